/* Types that stress a PDB reader. The tests in package pdb build this with
 * clang and lld-link, then compare what they read against llvm-pdbutil. */

typedef unsigned long long u64;
typedef long long s64;

/* Bitfields across 64-bit words: B does not fit after A and starts the
 * second word; F is signed and 63 bits wide. */
struct BITS {
	u64 A : 40;
	u64 B : 30;
	u64 C : 60;
	unsigned int D : 3;
	unsigned char E : 1;
	s64 F : 63;
	int G;
};

/* Anonymous unions and structs, and nested named ones. */
struct ANON {
	int Before;
	union {
		u64 Whole;
		struct {
			unsigned int Low;
			unsigned int High;
		};
		struct {
			u64 Valid : 1;
			u64 Pfn : 40;
		} Hard;
	};
	struct INNER {
		int X;
		union {
			short S;
			char C[2];
		} U;
	} Inner;
	union NAMEDU {
		u64 L;
		struct {
			u64 Bit0 : 1;
			u64 Rest : 63;
		} Bits;
	} u;
	struct {
		union {
			int Deep;
			float DeepF;
		};
		int After;
	};
};

/* Arrays of structs, multi-dimensional arrays. */
struct ELEM {
	int a;
	char b;
};
struct ARRAYS {
	struct ELEM Items[7];
	struct ELEM Grid[3][4];
	u64 Words[2];
	const volatile int Cv;
};

/* Pointers to incomplete types and forward declarations. */
struct OPAQUE;
struct LATER;
struct PTRS {
	struct OPAQUE *Opaque;
	struct LATER *Later;
	void (*Callback)(int, struct PTRS *);
	struct PTRS *Self;
	struct OPAQUE **OpaqueList[3];
};
struct LATER {
	int Defined;
};

/* Larger than 0x8000 bytes: sizes and offsets become numeric leaves. */
struct BIG {
	char Pad[0xb000];
	u64 Tail;
	char Pad2[0x10000];
	u64 Last;
	struct BITS LateBits;
};

/* Negative values and values at or above 0x8000. */
enum WIDE {
	WideNeg = -5,
	WideMin = -2147483647 - 1,
	WideSmall = 7,
	WideBig = 0x8000,
	WideShortMax = 0xffff,
	WideHuge = 0x7fffffff,
	WideU = 0x12345,
	WideNeg16 = -0x8000
};

/* A fixed 64-bit underlying type (a Microsoft extension in C). */
enum WIDE64 : unsigned long long {
	Wide64Top = 0xfedcba9876543210ull,
	Wide64One = 1
};

struct USESENUM {
	enum WIDE W;
	enum WIDE64 W64;
	enum WIDE Small : 4;
};

/* A field list past 0xff00 bytes, which the linker must split with
 * LF_INDEX; Lead pushes later offsets past 0x8000 too. */
#define M(n) int LongFieldNameToFillTheFieldListQuickly_##n;
#define M10(n) M(n##0) M(n##1) M(n##2) M(n##3) M(n##4) M(n##5) M(n##6) M(n##7) M(n##8) M(n##9)
#define M100(n) M10(n##0) M10(n##1) M10(n##2) M10(n##3) M10(n##4) M10(n##5) M10(n##6) M10(n##7) M10(n##8) M10(n##9)
struct LONGLIST {
	char Lead[0x8000];
	M100(1) M100(2) M100(3) M100(4) M100(5) M100(6) M100(7) M100(8) M100(9) M100(10)
	M100(11) M100(12) M100(13) M100(14) M100(15)
	int Final;
};

union TOPUNION {
	u64 Q;
	struct ELEM E;
	char Raw[12];
};

struct BITS GlobalBits;
struct ANON GlobalAnon;
struct ARRAYS GlobalArrays;
struct PTRS GlobalPtrs;
struct BIG GlobalBig;
struct USESENUM GlobalEnum;
struct LONGLIST GlobalLong;
union TOPUNION GlobalUnion;
int GlobalCounter = 5;
static int LocalCounter = 9;
const char GlobalName[] = "tricky";

int __cdecl TrickyFunction(int x)
{
	LocalCounter += x;
	return LocalCounter + GlobalCounter;
}

void __cdecl TrickyEntry(void)
{
	GlobalCounter = TrickyFunction(GlobalName[0]);
}
