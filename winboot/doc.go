// Package winboot is Frost's boot-time policy for a Windows guest: it
// keeps every page in RAM for the life of the boot.
//
// It needs a guest held before its first instruction (QEMU -S, libvirt's
// start-paused, or an attach at power-on) and a breakpoints.Manager over it.
// Run then:
//
//  1. polls with short runs and interrupts until ntoskrnl is mapped in the
//     current address space, looking for it from every kernel-half address a
//     stop offers (RIP, RSP, GS base, kernel GS base), and loads its symbols;
//  2. ORs 0x80000000 ("WinPE in RAM") into nt!InitWinPEModeType at once, as
//     the LoadOptions parse would, and arms nt!Phase1InitializationDiscard
//     with a break-on-return that checks the bit still holds when it returns
//     (re-applying it, and saying so, when it does not): image sections then
//     stay in memory instead of being backed by their files;
//  3. arms nt!NtCreatePagingFile to return STATUS_SUCCESS to its caller
//     without running, so smss believes its paging files exist and none is
//     ever created;
//  4. removes the NtCreatePagingFile breakpoint once csrss.exe exists, and
//     everything else once it is done, and reports what it did.
//
// When it comes too late (Phase1InitializationDiscard already ran, or
// smss.exe already exists) it reports "late" with exactly what was missed,
// never success. A guest reset drops every breakpoint (the manager does) and
// winboot starts over on the new boot.
package winboot
