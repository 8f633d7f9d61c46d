module github.com/frostvmi/frost

go 1.26
