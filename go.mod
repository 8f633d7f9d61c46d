module github.com/frostvmi/frost

go 1.26

require (
	github.com/digitalocean/go-libvirt v0.0.0-20250616175656-5843751af96c
	github.com/ulikunitz/xz v0.5.15
)

require (
	golang.org/x/crypto v0.39.0 // indirect
	golang.org/x/sys v0.33.0 // indirect
)
