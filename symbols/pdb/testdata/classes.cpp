// C++ records a PDB reader must step over to keep reading a field list:
// base classes, virtual and static members, methods (overloaded, virtual,
// static), nested types, friends, enums in classes, and unique names.
// The tests build it with clang and lld-link and compare against
// llvm-pdbutil, like tricky.c.

// No C runtime: what the compiler calls for globals with constructors
// and for deleting destructors, and the floating-point marker. Built with
// -fno-rtti.
extern "C" int atexit(void (*)(void)) { return 0; }
extern "C" int _fltused = 0;
void operator delete(void *) noexcept {}
void operator delete(void *, unsigned long long) noexcept {}

namespace ns1 {
struct Node {
	int a;
	Node *next;
};
} // namespace ns1

namespace ns2 {
struct Node {
	long long b[3];
	unsigned flags : 3;
};
} // namespace ns2

class Base {
public:
	virtual ~Base() {}
	virtual int Size() const { return base; }
	static int instances;
	int base = 1;
};
int Base::instances = 0;

class Other {
public:
	short other;
	void Touch() { other++; }
};

class Derived : public Base, public Other {
public:
	enum Color { Red = 1, Green = 0x8000, Blue = -3 };
	struct Inner {
		double d;
		Color c;
	};
	int Size() const override { return (int)sizeof(*this); }
	int Overloaded(int x) { return x + 1; }
	int Overloaded(long long x) { return (int)x; }
	static Derived *Make() { return 0; }
	friend class Other;
	friend int Peek(const Derived &);
	Inner inner;
	Color color;
	ns1::Node n1;
	ns2::Node n2;
	unsigned long long big[0x1100];
};

int Peek(const Derived &d) { return d.base; }

class VirtualBase : public virtual Base {
public:
	int vb;
};

class Diamond : public VirtualBase {
public:
	char tail;
};

Derived GlobalDerived;
Diamond GlobalDiamond;
ns1::Node GlobalNode1;
ns2::Node GlobalNode2;

extern "C" void ClassesEntry(void)
{
	GlobalDerived.inner.d = GlobalDerived.Overloaded(2) + GlobalDerived.Overloaded(3LL);
	GlobalDiamond.tail = (char)Peek(GlobalDerived) + (char)GlobalDiamond.Size();
}
