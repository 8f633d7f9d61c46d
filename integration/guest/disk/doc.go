// Package disk reads and writes mini-NT's C: volume, the raw disk image the
// bundled guest sees on its first IDE channel.
//
// The format is the contract in integration/guest/README.md: a superblock at
// LBA 0, a table of fixed-size entries after it, and one contiguous extent
// per file. The guest kernel writes paging files and \frost\log.txt into
// their extents with ATA PIO, so tests read what the guest did straight from
// the image after QEMU has stopped.
//
// The reader treats an image as untrusted input, like debug/pe does: every
// field is checked against the image's bounds before use, and a malformed
// image yields a *FormatError, never a panic.
package disk
