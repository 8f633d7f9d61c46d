/*
 * The part of ntdll's LdrpInitializeProcess that runs in the new process
 * itself: before the first user instruction, the loader looks at every
 * module in its load-order list through the module's own mapping
 * (RtlImageNtHeader: the DOS header's e_magic and e_lfanew, then the NT
 * signature), as Windows' loader does in every process it starts. The
 * kernel built the lists (ldr.c) without touching the views, so this is
 * where each header page is first read in the process: a demand fault
 * through the image section's prototype PTEs, and a page of the process's
 * working set from then on, trimmed like any other.
 */
#include "ldr.h"
#include "pe.h"

/* PEB_LDR_DATA.Initialized, not the thread state. */
#undef Initialized

#define MAX_LDR_MODULES 64

/* Checks each module's headers in the current process; a module whose
   headers are not an image's fails the process's initialization, as on
   Windows (STATUS_INVALID_IMAGE_FORMAT). */
NTSTATUS LdrpCheckModuleHeaders(PEB *peb) {
    LIST_ENTRY *head = &peb->Ldr->InLoadOrderModuleList;
    ULONG n = 0;
    for (LIST_ENTRY *l = head->Flink; l != head; l = l->Flink) {
        if (++n > MAX_LDR_MODULES) return STATUS_INVALID_IMAGE_FORMAT;
        LDR_DATA_TABLE_ENTRY *m = CONTAINING_RECORD(l, LDR_DATA_TABLE_ENTRY, InLoadOrderLinks);
        const volatile IMAGE_DOS_HEADER *dos = m->DllBase;
        if (dos->e_magic != IMAGE_DOS_SIGNATURE) return STATUS_INVALID_IMAGE_FORMAT;
        LONG lfanew = dos->e_lfanew;
        if (lfanew < (LONG)sizeof(IMAGE_DOS_HEADER) || (ULONG)lfanew > m->SizeOfImage - sizeof(IMAGE_NT_HEADERS64))
            return STATUS_INVALID_IMAGE_FORMAT;
        const volatile IMAGE_NT_HEADERS64 *nt = (const volatile IMAGE_NT_HEADERS64 *)((UCHAR *)m->DllBase + lfanew);
        if (nt->Signature != IMAGE_NT_SIGNATURE) return STATUS_INVALID_IMAGE_FORMAT;
    }
    return STATUS_SUCCESS;
}
