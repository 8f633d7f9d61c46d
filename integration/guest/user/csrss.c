/*
 * csrss.exe: its start is the moment Frost's boot-time configuration
 * watches for (paging files can no longer be created after it). It has no
 * other work in mini-NT.
 */
#include "ntdll.h"

void NtProcessStartup(PVOID Peb) {
    (void)Peb;
    for (;;) Sleep(1000);
}
