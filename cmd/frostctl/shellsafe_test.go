package main

import (
	"fmt"
	"strings"
)

// shellHazards lists what in script would surprise a user who pastes it
// into an interactive bash:
//   - a '!' outside single quotes that starts a history expansion
//     (nt!NtWriteFile becomes "event not found"): bash expands it inside
//     double quotes and in comments too; a '!' before a blank, '=' or '('
//     (test's "! -f", "!=") does not expand;
//   - a backtick outside single quotes, which opens a command
//     substitution (WinDbg's fffff800`12345678).
//
// It follows bash's quoting: single quotes take everything literally,
// a backslash outside them escapes the next character, and '#' at the
// start of a word begins a comment.
func shellHazards(script string) []string {
	var out []string
	const (
		plain = iota
		single
		double
		comment
	)
	state := plain
	line, col := 1, 0
	rs := []rune(script)
	report := func(format string, a ...any) {
		out = append(out, fmt.Sprintf("line %d col %d: ", line, col)+fmt.Sprintf(format, a...))
	}
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		col++
		next := rune(0)
		if i+1 < len(rs) {
			next = rs[i+1]
		}
		if r == '\n' {
			line, col = line+1, 0
			if state == comment {
				state = plain
			}
			continue
		}
		switch state {
		case single:
			if r == '\'' {
				state = plain
			}
			continue
		case comment:
			if r == '!' && expandsHistory(next) {
				report("%q in a comment: bash expands history even there", "!"+string(next))
			}
			continue
		}
		switch r {
		case '\\':
			i++ // escapes the next character (in double quotes too, for ` and ")
			col++
			if next == '\n' {
				line, col = line+1, 0
			}
		case '\'':
			if state == plain {
				state = single
			}
		case '"':
			if state == plain {
				state = double
			} else {
				state = plain
			}
		case '#':
			if state == plain && (i == 0 || strings.ContainsRune(" \t\n;&|()", rs[i-1])) {
				state = comment
			}
		case '`':
			report("a backtick outside single quotes opens a command substitution")
		case '!':
			if expandsHistory(next) {
				report("%q outside single quotes is a history expansion", "!"+string(next))
			}
		}
	}
	return out
}

// expandsHistory reports whether '!' followed by next starts a history
// expansion in bash (its default histchars, extglob off).
func expandsHistory(next rune) bool {
	switch next {
	case 0, ' ', '\t', '\n', '=', '(':
		return false
	}
	return true
}

// fencedBlock is one ``` block of a Markdown file.
type fencedBlock struct {
	lang string
	line int // of the opening fence
	body string
}

// fencedBlocks returns a Markdown file's fenced code blocks.
func fencedBlocks(md string) ([]fencedBlock, error) {
	var out []fencedBlock
	var cur *fencedBlock
	var body strings.Builder
	for i, l := range strings.Split(md, "\n") {
		t := strings.TrimSpace(l)
		if !strings.HasPrefix(t, "```") {
			if cur != nil {
				body.WriteString(l + "\n")
			}
			continue
		}
		if cur == nil {
			cur = &fencedBlock{lang: strings.TrimSpace(strings.TrimPrefix(t, "```")), line: i + 1}
			body.Reset()
			continue
		}
		cur.body = body.String()
		out = append(out, *cur)
		cur = nil
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: a fenced block is never closed", cur.line)
	}
	return out, nil
}

// inlineCommands returns the `...` spans of md that hold a command a user
// may paste (frostctl, frostd, make, virsh), with their line numbers.
func inlineCommands(md string) map[int][]string {
	out := map[int][]string{}
	inFence := false
	for i, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		parts := strings.Split(l, "`")
		for j := 1; j < len(parts); j += 2 {
			for _, cmd := range []string{"frostctl ", "frostd ", "make ", "virsh "} {
				if strings.HasPrefix(parts[j], cmd) {
					out[i+1] = append(out[i+1], parts[j])
				}
			}
		}
	}
	return out
}
