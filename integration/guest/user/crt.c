/*
 * The little C runtime mini-NT's user programs share.
 */
#include "ntdll.h"
#include "../include/fmt.h"

void *memset(void *d, int c, SIZE_T n) {
    UCHAR *p = d;
    while (n--) *p++ = (UCHAR)c;
    return d;
}

void *memcpy(void *d, const void *s, SIZE_T n) {
    UCHAR *a = d;
    const UCHAR *b = s;
    while (n--) *a++ = *b++;
    return d;
}

SIZE_T strlen(const char *s) {
    SIZE_T n = 0;
    while (s[n]) n++;
    return n;
}

void RtlInitUnicodeFromAscii(UNICODE_STRING *us, WCHAR *buf, SIZE_T cap, const char *s) {
    SIZE_T n = 0;
    for (; s[n] && n + 1 < cap; n++) buf[n] = (WCHAR)(UCHAR)s[n];
    buf[n] = 0;
    us->Buffer = buf;
    us->Length = (USHORT)(n * sizeof(WCHAR));
    us->MaximumLength = (USHORT)((n + 1) * sizeof(WCHAR));
}

ULONG RtlFormat(char *buf, ULONG cap, const char *fmt, ...) {
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    ULONG n = FmtV(buf, cap, fmt, ap);
    __builtin_va_end(ap);
    return n;
}

void DbgPrint(const char *fmt, ...) {
    char line[400];
    WCHAR wide[400];
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    FmtV(line, sizeof(line), fmt, ap);
    __builtin_va_end(ap);
    UNICODE_STRING us;
    RtlInitUnicodeFromAscii(&us, wide, sizeof(wide) / sizeof(WCHAR), line);
    NtDisplayString(&us);
}

void Sleep(ULONG milliseconds) {
    LARGE_INTEGER interval;
    interval.QuadPart = -(LONGLONG)milliseconds * 10000;
    NtDelayExecution(0, &interval);
}

__attribute__((noreturn)) void RtlExitUserProcess(NTSTATUS status) {
    for (;;) NtTerminateProcess(0, status);
}
