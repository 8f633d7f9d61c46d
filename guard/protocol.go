package guard

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/frostvmi/frost/session"
)

// The protocol is one JSON object a line each way: frostd sends a
// request, the guard answers each with a reply. It is a private protocol
// between two builds of the same binary, so it is kept as small as what
// the guard must know.

// Operations frostd sends.
const (
	// OpHello starts a connection; its reply waits until any recovery
	// the guard is running is over, so the new frostd reads a state file
	// that says what was let go.
	OpHello = "hello"
	// OpHold replaces everything this frostd holds (the state file's
	// content): sent before each hold begins and after each ends.
	OpHold = "hold"
	// OpBye: frostd let its guests go and stops; nothing is to be
	// recovered when the connection then closes.
	OpBye = "bye"
)

// Request is what frostd sends.
type Request struct {
	Op    string        `json:"op"`
	PID   int           `json:"pid,omitempty"`
	Holds session.Holds `json:"holds"`
}

// Reply is the guard's answer.
type Reply struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// PID is the guard's.
	PID int `json:"pid,omitempty"`
	// Recovered lists what the guard let go since the last hello (for
	// frostd's log).
	Recovered []string `json:"recovered,omitempty"`
}

// maxLine bounds one message: a peer that sends an endless line gets an
// error, not the guard's memory. A hold of thousands of VM names fits.
const maxLine = 1 << 20

// errLineTooLong: a message beyond maxLine.
var errLineTooLong = fmt.Errorf("guard: message longer than %d bytes", maxLine)

// readLine reads one message line, bounded.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) >= maxLine {
			return nil, errLineTooLong
		}
		switch {
		case err == nil:
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

func decode(line []byte, v any) error {
	if err := json.Unmarshal(line, v); err != nil {
		return fmt.Errorf("guard: bad message: %w", err)
	}
	return nil
}

func encode(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
