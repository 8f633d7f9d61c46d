/*
 * Primary tokens. Windows gives the System process a token it makes itself
 * (SeMakeSystemToken) and every other process a copy of its creator's
 * (SeSubProcessToken) unless the creator names another; a logon makes the
 * user's token. mini-NT has no logon: smss plays winlogon, and the images
 * in SepInteractiveImages run as the one interactive user, whose token the
 * kernel makes as LSA would at logon. Everything else runs as SYSTEM.
 *
 * A token is one object of type Token (pool tag 'Toke'): the _TOKEN, then
 * its variable part (the _SID_AND_ATTRIBUTES array, then the SIDs it
 * points to); the primary group lives in DynamicPart, a block of its own,
 * and the lock (an _ERESOURCE) in another, as Windows allocates them.
 */
#include "token.h"
#include "kobj.h"
#include "ob.h"
#include "../include/fmt.h"


#define MAX_FAST_REFS 15 /* _EX_FAST_REF.RefCnt: 4 bits on x64 */
#define MAX_TOKEN_SIDS 12
#define MAX_SUB_AUTHORITIES 8

/* A SID as the kernel spells it in its tables. */
typedef struct _SEP_SID_SPEC {
    UCHAR Authority;
    UCHAR Count;
    ULONG Sub[MAX_SUB_AUTHORITIES];
    ULONG Attributes;
} SEP_SID_SPEC;

#define GROUP_DEFAULT (SE_GROUP_MANDATORY | SE_GROUP_ENABLED_BY_DEFAULT | SE_GROUP_ENABLED)
#define GROUP_LABEL (SE_GROUP_INTEGRITY | SE_GROUP_INTEGRITY_ENABLED)

/* The machine's SID (S-1-5-21-x-y-z), fixed at "installation". */
#define MACHINE_SID 21, 2847106352u, 1153285917u, 3971055486u
#define INTERACTIVE_RID 1001
/* The interactive user's logon session (AuthenticationId), and the
   logon SID S-1-5-5-0-<low part> that names it. */
#define INTERACTIVE_LOGON_LUID 0x1e3c5u
#define SYSTEM_LUID 0x3e7u

/* SYSTEM: the user, then its groups; the mandatory label last. */
static const SEP_SID_SPEC SepSystemSids[] = {
    {5, 1, {18}, 0},
    {5, 2, {32, 544}, SE_GROUP_ENABLED_BY_DEFAULT | SE_GROUP_ENABLED | SE_GROUP_OWNER},
    {1, 1, {0}, GROUP_DEFAULT},
    {5, 1, {11}, GROUP_DEFAULT},
    {16, 1, {0x4000}, GROUP_LABEL},
};

/* The interactive user (a standard user at medium integrity). */
static const SEP_SID_SPEC SepUserSids[] = {
    {5, 5, {MACHINE_SID, INTERACTIVE_RID}, 0},
    {5, 5, {MACHINE_SID, 513}, GROUP_DEFAULT},
    {1, 1, {0}, GROUP_DEFAULT},
    {5, 2, {32, 545}, GROUP_DEFAULT},
    {5, 1, {4}, GROUP_DEFAULT},
    {2, 1, {1}, GROUP_DEFAULT},
    {5, 1, {11}, GROUP_DEFAULT},
    {5, 1, {15}, GROUP_DEFAULT},
    {5, 3, {5, 0, INTERACTIVE_LOGON_LUID}, GROUP_DEFAULT | SE_GROUP_LOGON_ID},
    {2, 1, {0}, GROUP_DEFAULT},
    {16, 1, {0x2000}, GROUP_LABEL},
};

/* Windows 10's masks for SYSTEM, and a standard user's: shutdown, change
   notify, undock, increase working set, time zone; only change notify
   enabled. */
#define SYSTEM_PRIVILEGES_PRESENT 0x0000001ff2ffffbcull
#define SYSTEM_PRIVILEGES_ENABLED 0x0000001e60b1e890ull
#define USER_PRIVILEGES_PRESENT                                                                                        \
    ((1ull << SE_SHUTDOWN_PRIVILEGE) | (1ull << SE_CHANGE_NOTIFY_PRIVILEGE) | (1ull << SE_UNDOCK_PRIVILEGE) |         \
     (1ull << SE_INC_WORKING_SET_PRIVILEGE) | (1ull << SE_TIME_ZONE_PRIVILEGE))
#define USER_PRIVILEGES_ENABLED (1ull << SE_CHANGE_NOTIFY_PRIVILEGE)

/* Programs that run as the interactive user, as if its shell started them. */
static const char *const SepInteractiveImages[] = {"writer.exe", "swapper.exe"};

static ULONG SepNextLuid = 0x3e8 + 0x100; /* ExAllocateLocallyUniqueId: after the well-known LUIDs */

static LUID SepNewLuid(void) {
    LUID l = {SepNextLuid++, 0};
    return l;
}

static ULONG SepSidLength(UCHAR count) { return (ULONG)(offsetof(SID, SubAuthority) + count * sizeof(ULONG)); }

static void SepWriteSid(SID *s, const SEP_SID_SPEC *spec) {
    s->Revision = SID_REVISION;
    s->SubAuthorityCount = spec->Count;
    memset(s->IdentifierAuthority.Value, 0, sizeof(s->IdentifierAuthority.Value));
    s->IdentifierAuthority.Value[5] = spec->Authority;
    for (UCHAR i = 0; i < spec->Count; i++) s->SubAuthority[i] = spec->Sub[i];
}

/* RtlSidHashInitialize: for SID i, bit i is set in the hash slot of each
   nibble of its last sub-authority's low byte, so a lookup tests two
   slots before it compares SIDs. */
static void SepHashSids(SID_AND_ATTRIBUTES_HASH *h, SID_AND_ATTRIBUTES *sa, ULONG count) {
    memset(h, 0, sizeof(*h));
    h->SidCount = count;
    h->SidAttr = sa;
    for (ULONG i = 0; i < count && i < 64; i++) {
        SID *s = sa[i].Sid;
        UCHAR b = s->SubAuthorityCount ? (UCHAR)s->SubAuthority[s->SubAuthorityCount - 1] : 0;
        h->Hash[b & 0xF] |= 1ull << i;
        h->Hash[16 + (b >> 4)] |= 1ull << i;
    }
}

/* Makes a primary token holding sids (the user first) and the privilege
   masks given. */
static TOKEN *SepCreateToken(const SEP_SID_SPEC *sids, ULONG count, ULONG64 present, ULONG64 enabled,
                             const char *source, LUID authId, ULONG session, ULONG primaryGroup) {
    ULONG var = count * sizeof(SID_AND_ATTRIBUTES);
    for (ULONG i = 0; i < count; i++) var += SepSidLength(sids[i].Count);
    TOKEN *t = ObCreateObject(SeTokenObjectType, offsetof(TOKEN, VariablePart) + var);
    /* _EX_FAST_REF keeps a count in the low 4 bits of the pointer. */
    if ((ULONG64)t & MAX_FAST_REFS) KeBugCheckEx(PROCESS_INITIALIZATION_FAILED, 0x70, (ULONG64)t, 0, 0);
    memset(t, 0, offsetof(TOKEN, VariablePart));
    for (ULONG i = 0; i < TOKEN_SOURCE_LENGTH; i++) t->TokenSource.SourceName[i] = source[i];
    t->TokenSource.SourceIdentifier = SepNewLuid();
    t->TokenId = SepNewLuid();
    t->ModifiedId = SepNewLuid();
    t->AuthenticationId = authId;
    t->ExpirationTime.QuadPart = 0x7fffffffffffffffll; /* never */
    t->TokenLock = ExAllocatePoolWithTag(NonPagedPool, sizeof(ERESOURCE), 'lTeS');
    ExInitializeResourceLite(t->TokenLock);
    t->Privileges.Present = present;
    t->Privileges.Enabled = enabled;
    t->Privileges.EnabledByDefault = enabled;
    t->SessionId = session;
    t->UserAndGroupCount = count;
    t->VariableLength = var;
    t->TokenType = TokenPrimary;
    t->ImpersonationLevel = SecurityAnonymous;
    t->TokenFlags = TOKEN_NOT_LOW | ((enabled >> SE_CHANGE_NOTIFY_PRIVILEGE) & 1 ? TOKEN_HAS_TRAVERSE_PRIVILEGE : 0);
    t->OriginatingLogonSession.LowPart = SYSTEM_LUID;

    SID_AND_ATTRIBUTES *sa = (SID_AND_ATTRIBUTES *)&t->VariablePart;
    UCHAR *next = (UCHAR *)(sa + count);
    for (ULONG i = 0; i < count; i++) {
        SepWriteSid((SID *)next, &sids[i]);
        sa[i].Sid = next;
        sa[i].Attributes = sids[i].Attributes;
        if (sids[i].Attributes & SE_GROUP_INTEGRITY) t->IntegrityLevelIndex = i;
        if (sids[i].Attributes & SE_GROUP_OWNER) t->DefaultOwnerIndex = i;
        next += SepSidLength(sids[i].Count);
    }
    t->UserAndGroups = sa;
    SepHashSids(&t->SidHash, sa, count);

    const SID *pg = sa[primaryGroup].Sid;
    ULONG pgLen = SepSidLength(pg->SubAuthorityCount);
    t->DynamicPart = ExAllocatePoolWithTag(PagedPool, pgLen, 'ekoT');
    memcpy(t->DynamicPart, pg, pgLen);
    t->PrimaryGroup = t->DynamicPart;
    t->DynamicCharged = pgLen;
    return t;
}

static TOKEN *SeMakeSystemToken(void) {
    LUID system = {SYSTEM_LUID, 0};
    return SepCreateToken(SepSystemSids, sizeof(SepSystemSids) / sizeof(SepSystemSids[0]),
                          SYSTEM_PRIVILEGES_PRESENT, SYSTEM_PRIVILEGES_ENABLED, "*SYSTEM*", system, 0, 0);
}

static TOKEN *SepMakeInteractiveToken(void) {
    LUID logon = {INTERACTIVE_LOGON_LUID, 0};
    TOKEN *t = SepCreateToken(SepUserSids, sizeof(SepUserSids) / sizeof(SepUserSids[0]), USER_PRIVILEGES_PRESENT,
                              USER_PRIVILEGES_ENABLED, "User32  ", logon, 1, 1);
    t->OriginatingLogonSession.LowPart = SYSTEM_LUID;
    return t;
}

/* SeSubProcessToken: a copy of the creator's token with a new TokenId,
   made under the source's lock. */
static TOKEN *SepDuplicateToken(TOKEN *src) {
    ExAcquireResourceSharedLite(src->TokenLock, TRUE);
    ULONG64 size = offsetof(TOKEN, VariablePart) + src->VariableLength;
    TOKEN *t = ObCreateObject(SeTokenObjectType, size);
    if ((ULONG64)t & MAX_FAST_REFS) KeBugCheckEx(PROCESS_INITIALIZATION_FAILED, 0x70, (ULONG64)t, 0, 0);
    memcpy(t, src, size);
    ExReleaseResourceLite(src->TokenLock);
    /* The copy's pointers point into the copy. */
    SID_AND_ATTRIBUTES *sa = (SID_AND_ATTRIBUTES *)&t->VariablePart;
    for (ULONG i = 0; i < t->UserAndGroupCount; i++)
        sa[i].Sid = (UCHAR *)t + ((UCHAR *)src->UserAndGroups[i].Sid - (UCHAR *)src);
    t->UserAndGroups = sa;
    SepHashSids(&t->SidHash, sa, t->UserAndGroupCount);
    t->ParentTokenId = src->TokenId;
    t->TokenId = SepNewLuid();
    t->ModifiedId = SepNewLuid();
    t->TokenInUse = FALSE;
    t->TokenLock = ExAllocatePoolWithTag(NonPagedPool, sizeof(ERESOURCE), 'lTeS');
    ExInitializeResourceLite(t->TokenLock);
    t->DynamicPart = ExAllocatePoolWithTag(PagedPool, src->DynamicCharged, 'ekoT');
    memcpy(t->DynamicPart, src->DynamicPart, src->DynamicCharged);
    t->PrimaryGroup = t->DynamicPart;
    return t;
}

/* ObFastReferenceObject: a cached reference if any is left. */
TOKEN *PsReferencePrimaryToken(EPROCESS *p) {
    ULONG64 v = p->Token.Value;
    if (v & MAX_FAST_REFS) p->Token.Value = v - 1;
    return (TOKEN *)(v & ~(ULONG64)MAX_FAST_REFS);
}

/* ObFastDereferenceObject: the reference goes back to the cache. */
void PsDereferencePrimaryToken(EPROCESS *p, TOKEN *t) {
    ULONG64 v = p->Token.Value;
    if ((v & ~(ULONG64)MAX_FAST_REFS) == (ULONG64)t && (v & MAX_FAST_REFS) < MAX_FAST_REFS) p->Token.Value = v + 1;
}

static unsigned FmtFormat(char *buf, unsigned cap, const char *f, ...) {
    __builtin_va_list ap;
    __builtin_va_start(ap, f);
    unsigned n = FmtV(buf, cap, f, ap);
    __builtin_va_end(ap);
    return n;
}

static void SepFormatSid(char *buf, unsigned cap, const SID *s) {
    unsigned n = FmtFormat(buf, cap, "S-%u-%u", s->Revision, s->IdentifierAuthority.Value[5]);
    for (UCHAR i = 0; i < s->SubAuthorityCount && n < cap; i++)
        n += FmtFormat(buf + n, cap - n, "-%u", s->SubAuthority[i]);
}

/* The report: the token's scalars, then each of its SIDs in order. */
static void SepReportToken(EPROCESS *p) {
    TOKEN *t = PsReferencePrimaryToken(p);
    ULONG64 pid = (ULONG64)p->UniqueProcessId;
    char line[400];
    FmtFormat(line, sizeof(line),
              "token-id=0x%x auth-id=0x%x session=%u type=%u sids=%u integrity-index=%u present=0x%llx "
              "enabled=0x%llx default=0x%llx source=%s lock=0x%llx",
              t->TokenId.LowPart, t->AuthenticationId.LowPart, t->SessionId, (ULONG)t->TokenType,
              t->UserAndGroupCount, t->IntegrityLevelIndex, t->Privileges.Present, t->Privileges.Enabled,
              t->Privileges.EnabledByDefault, t->TokenSource.SourceName[0] == '*' ? "system" : "user32",
              (ULONG64)t->TokenLock);
    PsDereferencePrimaryToken(p, t);
    /* fast-ref: _EPROCESS.Token as it stays in memory, count bits and all */
    DbgPrint("frost-guest: token pid=%llu name=%s address=0x%llx fast-ref=0x%llx %s\n", pid,
             (const char *)p->ImageFileName, (ULONG64)t, p->Token.Value, line);
    for (ULONG i = 0; i < t->UserAndGroupCount; i++) {
        char sid[128];
        SepFormatSid(sid, sizeof(sid), t->UserAndGroups[i].Sid);
        DbgPrint("frost-guest: token-sid pid=%llu index=%u sid=%s attributes=0x%x\n", pid, i, sid,
                 t->UserAndGroups[i].Attributes);
    }
}

/* PspInitializeProcessSecurity: called as a process object is made, with
   its name and id set. */
void SeAssignPrimaryToken(EPROCESS *p, EPROCESS *parent) {
    TOKEN *t = NULL;
    for (ULONG i = 0; i < sizeof(SepInteractiveImages) / sizeof(SepInteractiveImages[0]); i++) {
        SIZE_T n = RtlStringLength(SepInteractiveImages[i]);
        if (RtlStringLength((const char *)p->ImageFileName) == n &&
            RtlEqualAsciiInsensitive((const char *)p->ImageFileName, SepInteractiveImages[i], n))
            t = SepMakeInteractiveToken();
    }
    if (!t && parent) {
        TOKEN *pt = PsReferencePrimaryToken(parent);
        t = SepDuplicateToken(pt);
        PsDereferencePrimaryToken(parent, pt);
    }
    if (!t) t = SeMakeSystemToken();
    t->TokenInUse = TRUE;
    p->Token.Value = (ULONG64)t | MAX_FAST_REFS;
    SepReportToken(p);
}

/* Prepends a backslash and the name of body, then of each directory above
   it, to buf[*start..) (moving *start left), as ObQueryNameString spells
   an object's path. */
static BOOLEAN SepPrependObjectPath(PVOID body, WCHAR *buf, ULONG *start) {
    for (int depth = 0; body && depth < 8; depth++) {
        OBJECT_HEADER_NAME_INFO *ni = ObQueryNameInfo(body);
        if (!ni || !ni->Name.Length || !ni->Directory) return TRUE; /* the root ("\\") adds nothing */
        ULONG n = ni->Name.Length / sizeof(WCHAR);
        if (*start < n + 1) return FALSE;
        *start -= n;
        memcpy(buf + *start, ni->Name.Buffer, ni->Name.Length);
        buf[--*start] = L'\\';
        body = ni->Directory;
    }
    return TRUE;
}

/* SeInitializeProcessAuditName: the image file's NT path, the device's
   name then the file's, in SeAuditProcessCreationInfo. */
void SeInitializeProcessAuditName(EPROCESS *p, FILE_OBJECT *fo) {
    WCHAR buf[160];
    ULONG file = fo->FileName.Length / sizeof(WCHAR), start = 160 - file;
    if (file > 100) return;
    memcpy(buf + start, fo->FileName.Buffer, fo->FileName.Length);
    if (!SepPrependObjectPath(fo->DeviceObject, buf, &start)) return;
    ULONG bytes = (160 - start) * sizeof(WCHAR);
    OBJECT_NAME_INFORMATION *info =
        ExAllocatePoolWithTag(PagedPool, sizeof(*info) + bytes + sizeof(WCHAR), 'aPeS');
    WCHAR *name = (WCHAR *)(info + 1);
    memcpy(name, buf + start, bytes);
    name[bytes / sizeof(WCHAR)] = 0;
    info->Name.Length = (USHORT)bytes;
    info->Name.MaximumLength = (USHORT)(bytes + sizeof(WCHAR));
    info->Name.Buffer = name;
    p->SeAuditProcessCreationInfo.ImageFileName = info;
}
