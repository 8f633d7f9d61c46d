/*
 * frostimg.dll: the image swapper.exe maps as a section. Its pages have
 * known, distinct content, so whoever reads a page of the view can say
 * where it came from: byte 0..3 are "FIMG", byte 4 the page's index within
 * its PE section, byte 5 the section (1 .rdata, 2 .data), and the rest of
 * the page repeats a byte derived from both.
 */
/* Later designators override the range fill, as intended. */
#pragma clang diagnostic ignored "-Winitializer-overrides"
#define PAGE(sec, n, name, attr)                                                                              \
    attr unsigned char name##n[4096] = {                                                                      \
        [0 ... 4095] = (unsigned char)(0x40 + (sec)*16 + (n)), [0] = 'F', [1] = 'I', [2] = 'M', [3] = 'G', \
        [4] = (n), [5] = (sec)};

#define RO __attribute__((used)) const
#define RW __attribute__((used))

PAGE(1, 0, FrostImageRead, RO)
PAGE(1, 1, FrostImageRead, RO)
PAGE(1, 2, FrostImageRead, RO)
PAGE(1, 3, FrostImageRead, RO)
PAGE(1, 4, FrostImageRead, RO)
PAGE(1, 5, FrostImageRead, RO)
PAGE(1, 6, FrostImageRead, RO)
PAGE(1, 7, FrostImageRead, RO)
PAGE(2, 0, FrostImageData, RW)
PAGE(2, 1, FrostImageData, RW)
PAGE(2, 2, FrostImageData, RW)
PAGE(2, 3, FrostImageData, RW)

/* Uninitialised data: demand-zero pages of the view. */
__attribute__((used)) unsigned char FrostImageBss[4 * 4096];

__declspec(dllexport) unsigned long FrostImageEntry(void *base, unsigned long reason, void *reserved) {
    (void)base, (void)reserved;
    return reason + FrostImageRead0[0] + FrostImageData0[0] + FrostImageBss[0];
}
