/*
 * Runtime helpers: memory and string primitives the compiler and the
 * subsystems need, the COM1 debug port, DbgPrint and KeBugCheckEx.
 */
#include "ke.h"
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

int RtlCompareMemory(const void *a, const void *b, SIZE_T n) {
    const UCHAR *x = a, *y = b;
    for (SIZE_T i = 0; i < n; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
}

SIZE_T RtlStringLength(const char *s) {
    SIZE_T n = 0;
    while (s[n]) n++;
    return n;
}

static char Upcase(char c) { return c >= 'a' && c <= 'z' ? (char)(c - 32) : c; }

int RtlEqualAsciiInsensitive(const char *a, const char *b, SIZE_T n) {
    for (SIZE_T i = 0; i < n; i++)
        if (Upcase(a[i]) != Upcase(b[i])) return 0;
    return 1;
}

void RtlInitUnicodeFromAscii(UNICODE_STRING *us, const char *s) {
    SIZE_T n = RtlStringLength(s);
    WCHAR *w = ExAllocatePoolWithTag(NonPagedPool, (n + 1) * sizeof(WCHAR), 'rtSU');
    for (SIZE_T i = 0; i <= n; i++) w[i] = (WCHAR)s[i];
    us->Buffer = w;
    us->Length = (USHORT)(n * sizeof(WCHAR));
    us->MaximumLength = (USHORT)((n + 1) * sizeof(WCHAR));
}

/* xorshift64*, seeded from the TSC: for ObHeaderCookie and the like, which
   Windows draws at random every boot. */
static ULONG64 RtlpRandomState;
ULONG64 RtlRandom(void) {
    if (!RtlpRandomState) RtlpRandomState = __rdtsc() | 1;
    RtlpRandomState ^= RtlpRandomState >> 12;
    RtlpRandomState ^= RtlpRandomState << 25;
    RtlpRandomState ^= RtlpRandomState >> 27;
    return RtlpRandomState * 0x2545F4914F6CDD1Dull;
}

/* RtlHashUnicodeString's x65599 hash of the upcased string, for
   _EPROCESS.ImagePathHash (mini-NT's paths are ASCII). */
ULONG RtlHashAsciiPathUpcase(const char *s, SIZE_T n) {
    ULONG h = 0;
    for (SIZE_T i = 0; i < n; i++) {
        UCHAR c = (UCHAR)s[i];
        if (c >= 'a' && c <= 'z') c = (UCHAR)(c - 'a' + 'A');
        h = h * 65599u + c;
    }
    return h;
}

/* ---- COM1 ----------------------------------------------------------- */

#define COM1 0x3f8

void KdInitSerial(void) {
    WRITE_PORT_UCHAR(COM1 + 1, 0x00);
    WRITE_PORT_UCHAR(COM1 + 3, 0x80);
    WRITE_PORT_UCHAR(COM1 + 0, 0x01);
    WRITE_PORT_UCHAR(COM1 + 1, 0x00);
    WRITE_PORT_UCHAR(COM1 + 3, 0x03);
    WRITE_PORT_UCHAR(COM1 + 2, 0x00); /* no FIFO: each byte leaves at once */
}

static void KdPutChar(char c) {
    while (!(READ_PORT_UCHAR(COM1 + 5) & 0x20)) {
    }
    WRITE_PORT_UCHAR(COM1, (UCHAR)c);
}

/* Returns once the UART has sent everything (TEMT), so a line is out
   before the kernel goes on, or halts. */
void KdWrite(const char *s, SIZE_T n) {
    for (SIZE_T i = 0; i < n; i++) KdPutChar(s[i]);
    while (!(READ_PORT_UCHAR(COM1 + 5) & 0x40)) {
    }
}

void DbgPrint(const char *fmt, ...) {
    char buf[512];
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    unsigned int n = FmtV(buf, sizeof(buf), fmt, ap);
    __builtin_va_end(ap);
    KdWrite(buf, n);
}

__attribute__((noreturn)) void KeBugCheckEx(ULONG code, ULONG64 p1, ULONG64 p2, ULONG64 p3, ULONG64 p4) {
    _disable();
    DbgPrint("frost-guest: bugcheck code=0x%08x p1=0x%llx p2=0x%llx p3=0x%llx p4=0x%llx\n", code, p1, p2, p3, p4);
    for (;;) __asm__ volatile("cli; hlt");
}
