/*
 * hal.dll: the second image in PsLoadedModuleList. mini-NT's kernel drives
 * its few devices itself, so the HAL only has to be a real image that
 * winload maps and the kernel lists.
 */
typedef unsigned long ULONG;

ULONG HalpProcessorCount = 1;

__declspec(dllexport) ULONG HalGetProcessorCount(void) { return HalpProcessorCount; }

ULONG HalInitSystem(void *LoaderBlock) {
    (void)LoaderBlock;
    return 1;
}
