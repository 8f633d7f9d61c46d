/* A DLL whose export table has what mini-NT's lacks: aliases, an export
 * by ordinal only, data, and forwarders by name and by ordinal (see
 * exports.def). Built by exports_test.go with clang and lld-link. */
int Alpha(void) { return 1; }
int Beta(void) { return 2; }
int Hidden(void) { return 3; }
int DataThing = 5;
int Entry(void *h, unsigned reason, void *p) { return 1; }
