/*
 * The process loader's interface between ps.c (process creation) and
 * ldr.c (DLLs, imports, PEB, TEB).
 */
#ifndef MININT_LDR_H
#define MININT_LDR_H

#include "ke.h"

#define MAX_PROCESS_DLLS 8

/* A PE32+ image in its file layout. */
typedef struct _PSP_PE {
    UCHAR *Image;
    ULONG64 Size;
    UCHAR *Opt;      /* the optional header */
    UCHAR *Sections; /* the section table */
    USHORT NumberOfSections;
    ULONG SizeOfHeaders;
    ULONG SizeOfImage;
    ULONG64 ImageBase;
    ULONG EntryRva;
    ULONG TimeDateStamp;
} PSP_PE;

struct _PSP_DLL;
/* The DLLs mapped into a new process, in load order (ntdll.dll first). */
typedef struct _PSP_LOADED_DLLS {
    ULONG Count;
    struct _PSP_DLL *Dll[MAX_PROCESS_DLLS];
} PSP_LOADED_DLLS;

NTSTATUS PspParsePe(UCHAR *img, ULONG64 size, PSP_PE *pe);
NTSTATUS PspSnapImports(EPROCESS *p, PSP_PE *exe, PSP_LOADED_DLLS *dlls);
NTSTATUS PspCreatePeb(EPROCESS *p, EPROCESS *parent, const char *imagePath, const char *commandLine, PSP_PE *exe,
                      PSP_LOADED_DLLS *dlls);
NTSTATUS PspCreateTeb(EPROCESS *p, ETHREAD *t, ULONG64 stackBase, ULONG64 stackLimit);
void PspReportUserEnvironment(EPROCESS *p, ETHREAD *t, const char *imagePath, const char *commandLine, PSP_PE *exe,
                              PSP_LOADED_DLLS *dlls);
/* ldrinit.c */
NTSTATUS LdrpCheckModuleHeaders(PEB *peb);
/* ps.c */
NTSTATUS PspCreateUserProcessEx(const char *ntpath, SIZE_T len, const char *commandLine, EPROCESS *parent,
                                EPROCESS **out, ETHREAD **thread);
UCHAR *PspMapUserPage(EPROCESS *p, ULONG64 va, ULONG protection);

#endif
