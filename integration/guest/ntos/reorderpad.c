/*
 * The reorder build links this first, so every global of the kernel lands
 * at another RVA than in the normal build (the PDB says where).
 */
#ifdef MININT_REORDER
__attribute__((used)) unsigned char KiReorderData[0x1230] = {1};
__attribute__((used)) unsigned char KiReorderBss[0x2340];
__attribute__((used)) const unsigned char KiReorderRdata[0x560] = {1};
#else
typedef int KiReorderPadUnused; /* a translation unit needs a declaration */
#endif
