// Package minidump writes Windows minidump files (MDMP), the format that
// WinDbg's .dump, dbghelp's MiniDumpWriteDump and lldb's "-c" read.
//
// The layout follows Microsoft's public description of the format
// (minidumpapiset.h): a MINIDUMP_HEADER, a directory of streams, and the
// streams themselves. This package writes the streams a process dump
// needs: SystemInfoStream, MiscInfoStream (the process id), ModuleListStream
// (each module's CodeView RSDS identity as its CvRecord), ThreadListStream
// (each thread's AMD64 CONTEXT), CommentStreamW (free text: Frost lists
// where pages came from and which could not be read) and Memory64ListStream,
// whose bytes are the last thing in the file.
//
// A dump is written in one pass to an io.Writer, without seeking and
// without holding its memory: Plan fixes every offset from the list of
// memory ranges before a byte of memory is read, and Write then asks a
// caller's reader for each range in file order. Size is known before
// writing starts, so a client can show progress.
//
// The package is pure: it does no I/O of its own beyond the writer and
// reader it is given, and imports nothing of the project.
package minidump
