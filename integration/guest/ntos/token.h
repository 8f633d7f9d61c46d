/*
 * Security tokens: each process's primary token (_EPROCESS.Token, an
 * _EX_FAST_REF), with its user and group SIDs and its privileges, as
 * Windows 10 keeps them.
 *
 * _SID and _SID_AND_ATTRIBUTES are ABI (user mode receives them from
 * NtQueryInformationToken), so their layout is Windows' in every build;
 * _TOKEN and _SEP_TOKEN_PRIVILEGES are kernel-internal and the reorder
 * build swaps their halves. _TOKEN.VariablePart stays last in every build:
 * it marks where the token's variable part (the SID_AND_ATTRIBUTES array,
 * then the SIDs) begins.
 */
#ifndef MININT_TOKEN_H
#define MININT_TOKEN_H

#include "ke.h"

typedef struct _LUID {
    ULONG LowPart;
    LONG HighPart;
} LUID;

typedef struct _SID_IDENTIFIER_AUTHORITY {
    UCHAR Value[6]; /* big-endian */
} SID_IDENTIFIER_AUTHORITY;

#define SID_REVISION 1
#define SID_MAX_SUB_AUTHORITIES 15

typedef struct _SID {
    UCHAR Revision;
    UCHAR SubAuthorityCount;
    SID_IDENTIFIER_AUTHORITY IdentifierAuthority;
    ULONG SubAuthority[1]; /* SubAuthorityCount of them */
} SID;

typedef struct _SID_AND_ATTRIBUTES {
    PVOID Sid;
    ULONG Attributes;
} SID_AND_ATTRIBUTES;

/* _SID_AND_ATTRIBUTES.Attributes of a group */
#define SE_GROUP_MANDATORY 0x00000001
#define SE_GROUP_ENABLED_BY_DEFAULT 0x00000002
#define SE_GROUP_ENABLED 0x00000004
#define SE_GROUP_OWNER 0x00000008
#define SE_GROUP_INTEGRITY 0x00000020
#define SE_GROUP_INTEGRITY_ENABLED 0x00000040
#define SE_GROUP_LOGON_ID 0xC0000000

#define SID_HASH_SIZE 32
typedef struct _SID_AND_ATTRIBUTES_HASH {
    ULONG SidCount;
    SID_AND_ATTRIBUTES *SidAttr;
    ULONG64 Hash[SID_HASH_SIZE];
} SID_AND_ATTRIBUTES_HASH;

typedef struct _LUID_AND_ATTRIBUTES {
    LUID Luid;
    ULONG Attributes;
} LUID_AND_ATTRIBUTES;

/* Bit n of each mask is the privilege whose LUID is n (SE_*_PRIVILEGE). */
typedef struct _SEP_TOKEN_PRIVILEGES {
    REORDER(
    ULONG64 Present;
    ,
    ULONG64 Enabled;
    ULONG64 EnabledByDefault;)
} SEP_TOKEN_PRIVILEGES;

typedef struct _SEP_AUDIT_POLICY {
    UCHAR AdtTokenPolicy[30];
    UCHAR PolicySetStatus;
} SEP_AUDIT_POLICY;

#define TOKEN_SOURCE_LENGTH 8
typedef struct _TOKEN_SOURCE {
    CHAR SourceName[TOKEN_SOURCE_LENGTH];
    LUID SourceIdentifier;
} TOKEN_SOURCE;

typedef enum _TOKEN_TYPE { TokenPrimary = 1, TokenImpersonation = 2 } TOKEN_TYPE;

typedef enum _SECURITY_IMPERSONATION_LEVEL {
    SecurityAnonymous = 0,
    SecurityIdentification = 1,
    SecurityImpersonation = 2,
    SecurityDelegation = 3,
} SECURITY_IMPERSONATION_LEVEL;

/* TokenFlags */
#define TOKEN_HAS_TRAVERSE_PRIVILEGE 0x0001
#define TOKEN_IS_FILTERED 0x0004
#define TOKEN_NOT_LOW 0x2000

struct _ERESOURCE;

typedef struct _TOKEN {
    REORDER(
    TOKEN_SOURCE TokenSource;
    LUID TokenId;
    LUID AuthenticationId; /* the logon session: 0x3e7 is SYSTEM's */
    LUID ParentTokenId;
    LARGE_INTEGER ExpirationTime;
    struct _ERESOURCE *TokenLock;
    LUID ModifiedId;
    SEP_TOKEN_PRIVILEGES Privileges;
    SEP_AUDIT_POLICY AuditPolicy;
    ULONG SessionId;
    ULONG UserAndGroupCount; /* entries of UserAndGroups: the user, then the groups */
    ULONG RestrictedSidCount;
    ULONG VariableLength;
    ULONG DynamicCharged;
    ULONG DynamicAvailable;
    ULONG DefaultOwnerIndex;
    SID_AND_ATTRIBUTES *UserAndGroups;
    ,
    SID_AND_ATTRIBUTES *RestrictedSids;
    PVOID PrimaryGroup; /* a SID in DynamicPart */
    ULONG *DynamicPart;
    PVOID DefaultDacl; /* mini-NT has no ACLs: always NULL */
    TOKEN_TYPE TokenType;
    SECURITY_IMPERSONATION_LEVEL ImpersonationLevel;
    ULONG TokenFlags;
    BOOLEAN TokenInUse;
    ULONG IntegrityLevelIndex; /* UserAndGroups entry of the mandatory label */
    ULONG MandatoryPolicy;
    PVOID LogonSession;
    LUID OriginatingLogonSession;
    SID_AND_ATTRIBUTES_HASH SidHash;
    SID_AND_ATTRIBUTES_HASH RestrictedSidHash;)
    ULONG64 VariablePart;
} TOKEN, *PTOKEN;

/* Privilege LUIDs (winnt.h's SE_*_PRIVILEGE values). */
#define SE_CREATE_TOKEN_PRIVILEGE 2
#define SE_CHANGE_NOTIFY_PRIVILEGE 23
#define SE_SHUTDOWN_PRIVILEGE 19
#define SE_UNDOCK_PRIVILEGE 25
#define SE_INC_WORKING_SET_PRIVILEGE 33
#define SE_TIME_ZONE_PRIVILEGE 34
#define SE_MAX_PRIVILEGE 36

/* token.c */
void SeAssignPrimaryToken(EPROCESS *p, EPROCESS *parent);
TOKEN *PsReferencePrimaryToken(EPROCESS *p);
void SeInitializeProcessAuditName(EPROCESS *p, FILE_OBJECT *fo);
void PsDereferencePrimaryToken(EPROCESS *p, TOKEN *t);

#endif
