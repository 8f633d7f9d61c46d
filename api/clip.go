package api

import (
	"fmt"
	"unicode/utf8"
)

// maxEchoed bounds a client's string echoed into an error message, its
// metadata or a log line: a 1 MiB request field must not become a 1 MiB
// error and log line. What is kept says enough to recognise the input.
const maxEchoed = 128

// clipField shortens s to maxEchoed bytes (never splitting a UTF-8
// sequence) and says how long it was.
func clipField(s string) string {
	if len(s) <= maxEchoed {
		return s
	}
	cut := maxEchoed
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("…(%d bytes)", len(s))
}

// maxMessage bounds a whole status message: it may quote several fields
// and a wrapped error, each already clipped where the code knows it
// quotes the client; this is the backstop for the places it does not.
const maxMessage = 1024

func clipMessage(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("…(%d bytes)", len(s))
}
