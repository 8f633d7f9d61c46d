// Package breakpoints arms breakpoints in a guest for many owners at once
// and runs their handlers while the guest is stopped: winboot's boot-time
// edits, the NtWriteFile monitor, and the API's per-client breakpoints all
// go through one Manager per guest.
//
// # Addresses and their cost
//
// A breakpoint is set on a kernel virtual address, or on a user virtual
// address together with the address space (DTB) it belongs to. QEMU's stub
// has neither physical nor per-address-space breakpoints: the stub stops
// the guest whenever any address space executes that virtual address. A
// user-VA breakpoint in one process therefore stops the guest in every
// process that runs code at the same VA (a shared DLL stops all of them),
// and each such stop costs a full hit cycle (stop, register read,
// step-over, resume: about 1 ms under TCG, platform-facts.md) even when no
// observer wants it. Observers narrow hits down after the fact, by CR3, by
// the physical address the VA maps to at the hit (how a breakpoint on
// shared physical code is expressed), by thread and by process.
//
// # Slots and observers
//
// One slot is one breakpoint armed in the stub at one VA. Several observers
// share a slot; the slot goes when its last observer does. Which kind a
// slot gets follows the target's capabilities and is reported per
// breakpoint (Placement): under TCG a Z0, unlimited and invisible to the
// guest; under KVM one of the 4 debug registers first, then a Z0 only when
// the operator consented to visible ones (it writes 0xCC into guest
// memory, and Placement.Visible says so); otherwise a *SlotError matching
// ErrNoSlot.
//
// # Handlers and edits
//
// Handlers run while the guest is stopped, concurrently, each under its
// own deadline. They read registers and memory freely and stage edits on
// their Frame; the edits of the handlers that returned nil are applied
// together before the guest resumes. A handler that errs, panics or
// overruns its deadline is logged and its edits are dropped whole, so a
// half-emulated return never reaches the guest. Whatever happens, the
// manager resumes the guest: no path leaves it stopped, except an explicit
// Manager.Pause by its operator.
//
// # Events
//
// The Manager is the single consumer of vmi.Target.Events. Hits, stops
// that are not breakpoint hits, and the guest's lifecycle (reset, shutdown,
// gone) are fanned out to subscribers through bounded queues: a slow
// subscriber loses events, is told how many, and never stalls the guest. A
// subscription may hold the guest at each hit until it acks, bounded by
// its deadline.
//
// On a guest reset every breakpoint is removed from the stub (a new boot
// has a new KASLR base, so the old addresses mean nothing) and every
// observer's owner is told through its OnDrop callback and a reset event.
package breakpoints
