/*
 * A small printf for mini-NT's kernel and user programs: the serial report
 * is all they print, so %s %c %d %u %x %X %p with an optional 0/width and
 * l/ll, plus %wZ for a UNICODE_STRING, as the kernel's DbgPrint has it.
 * Header-only so the kernel and each user image link their own copy.
 */
#ifndef MININT_FMT_H
#define MININT_FMT_H

typedef struct {
    char *buf;
    unsigned int len, cap;
} FMT_SINK;

static void FmtPut(FMT_SINK *s, char c) {
    if (s->len + 1 < s->cap) s->buf[s->len++] = c;
}

static void FmtNumber(FMT_SINK *s, unsigned long long v, unsigned int base, int upper, int width, char pad) {
    char tmp[24];
    int n = 0;
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
        tmp[n++] = digits[v % base];
        v /= base;
    } while (v);
    while (width-- > n) FmtPut(s, pad);
    while (n) FmtPut(s, tmp[--n]);
}

/* Formats into buf (always NUL-terminated) and returns the length. */
static unsigned int FmtV(char *buf, unsigned int cap, const char *f, __builtin_va_list ap) {
    FMT_SINK s = {buf, 0, cap};
    for (; *f; f++) {
        if (*f != '%') {
            FmtPut(&s, *f);
            continue;
        }
        f++;
        char pad = ' ';
        int width = 0, longs = 0;
        if (*f == '0') {
            pad = '0';
            f++;
        }
        while (*f >= '0' && *f <= '9') width = width * 10 + (*f++ - '0');
        while (*f == 'l') {
            longs++;
            f++;
        }
        switch (*f) {
        case 's': {
            const char *str = __builtin_va_arg(ap, const char *);
            if (!str) str = "(null)";
            while (*str) FmtPut(&s, *str++);
            break;
        }
        case 'c':
            FmtPut(&s, (char)__builtin_va_arg(ap, int));
            break;
        case 'w': /* %wZ */
            if (f[1] == 'Z') {
                f++;
                const struct {
                    unsigned short Length, MaximumLength;
                    const unsigned short *Buffer;
                } *us = __builtin_va_arg(ap, void *);
                for (unsigned int i = 0; us && us->Buffer && i < us->Length / 2u; i++) {
                    unsigned short c = us->Buffer[i];
                    FmtPut(&s, c < 0x80 ? (char)c : '?');
                }
            }
            break;
        case 'd': {
            long long v = longs >= 2 ? __builtin_va_arg(ap, long long) : (long long)__builtin_va_arg(ap, int);
            if (v < 0) {
                FmtPut(&s, '-');
                v = -v;
            }
            FmtNumber(&s, (unsigned long long)v, 10, 0, width, pad);
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            unsigned long long v = longs >= 2 ? __builtin_va_arg(ap, unsigned long long)
                                              : (unsigned long long)__builtin_va_arg(ap, unsigned int);
            FmtNumber(&s, v, *f == 'u' ? 10 : 16, *f == 'X', width, pad);
            break;
        }
        case 'p':
            FmtPut(&s, '0');
            FmtPut(&s, 'x');
            FmtNumber(&s, (unsigned long long)__builtin_va_arg(ap, void *), 16, 0, 16, '0');
            break;
        case '%':
            FmtPut(&s, '%');
            break;
        default:
            FmtPut(&s, '?');
        }
    }
    s.buf[s.len < s.cap ? s.len : s.cap - 1] = 0;
    return s.len;
}

#endif
