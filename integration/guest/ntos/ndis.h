/*
 * mini-NT's NDIS: Windows' names and structure shapes for the path a frame
 * takes between a protocol (the stack in ntos/net*.c) and the miniport (the
 * e1000 driver in ntos/e1000.c).
 *
 * A frame is the data of one NET_BUFFER; a NET_BUFFER_LIST holds one or more
 * NET_BUFFERs, and NBLs chain through Next. A NET_BUFFER's data lies in its
 * MDL chain (MdlChain, linked through MDL.Next), starting DataOffset bytes
 * into the chain and running DataLength bytes, possibly over several MDLs.
 * CurrentMdl/CurrentMdlOffset name the MDL holding the first data byte and
 * the offset of that byte in it, so DataOffset = (sum of ByteCount of the
 * MDLs before CurrentMdl) + CurrentMdlOffset. An MDL's bytes are at
 * MappedSystemVa (always set here: mini-NT's buffers are nonpaged kernel
 * memory), ByteCount bytes long; StartVa is MappedSystemVa rounded down to a
 * page and ByteOffset the rest, as Windows has them.
 *
 * Layouts: MDL is Windows' exactly. NET_BUFFER and NET_BUFFER_LIST are
 * Windows' with the same anonymous unions: Next, CurrentMdl, ...,
 * DataOffset (and Next, FirstNetBuffer) are members of an anonymous struct
 * in an anonymous union at offset 0, beside NetBufferHeader.NetBufferData
 * (NetBufferListHeader.NetBufferListData) holding the same fields; in the
 * PDB they read as members of _NET_BUFFER (_NET_BUFFER_LIST) itself, as in
 * Windows' ndis.pdb. Windows' SLIST_HEADER Link members are left out (they
 * would force 16-byte alignment and nothing uses them), so offsets after
 * the first union can differ from Windows'; Frost reads them from the PDB.
 *
 * Calls (all in ntos/ndis.c):
 *   protocol -> NDIS -> miniport
 *     NdisSendNetBufferLists(binding, nbls, port, flags): nbls may be a
 *       chain of NBLs, each of several NBs; every NBL comes back through the
 *       protocol's SendNetBufferListsComplete, with Status set, in a later
 *       call or before NdisSendNetBufferLists returns. The protocol must
 *       not touch an NBL until it is completed.
 *   miniport -> NDIS -> protocol
 *     NdisMSendNetBufferListsComplete(adapter, nbls, flags)
 *     NdisMIndicateReceiveNetBufferLists(adapter, nbls, port, count, flags):
 *       calls the protocol's ReceiveNetBufferLists in the System receive
 *       thread. The NBLs belong to the miniport and are valid only during
 *       the call (ReceiveFlags always has NDIS_RECEIVE_FLAGS_RESOURCES set):
 *       the protocol copies what it keeps and returns.
 * NdisSendNetBufferLists and NdisMIndicateReceiveNetBufferLists are real
 * (NOINLINE) functions, the NBL chain in rdx at their first instruction
 * (Frost's network monitor breaks there).
 *
 * Binding (a simplified NdisRegisterProtocolDriver + NdisOpenAdapter):
 *   NdisOpenAdapterSimple(&handlers, context, &binding, mac) binds the one
 *   protocol to the one adapter; context is passed back to every handler as
 *   ProtocolBindingContext; binding (an NDIS_OPEN_BLOCK) is the
 *   NdisBindingHandle for NdisSendNetBufferLists; mac receives the NIC's
 *   address. Fails with NDIS_STATUS_ADAPTER_NOT_FOUND when there is no NIC
 *   (the machine was started without one) and NDIS_STATUS_ADAPTER_NOT_READY
 *   when one is bound already.
 *
 * Allocation (nonpaged pool; any IRQL-free context):
 *   NdisAllocateNetBufferListPool(NULL, NULL) gives a pool handle (NULL
 *   is accepted as a handle too: the default pool).
 *   NdisAllocateNetBufferAndNetBufferList(pool, ctxSize, backfill, mdl,
 *   offset, length): one NBL with one NB over the given MDL chain
 *   (MdlChain may be NULL when length is 0); ContextSize bytes of NBL
 *   context are allocated when non-zero. NdisFreeNetBufferList frees the
 *   NBL, its NBs and its context, not the MDLs.
 *   NdisAllocateMdl(handle, va, length) describes length bytes at va;
 *   NdisFreeMdl frees the MDL, not the bytes.
 */
#ifndef MININT_NDIS_H
#define MININT_NDIS_H

#include "ntdef.h"

typedef PVOID NDIS_HANDLE, *PNDIS_HANDLE;
typedef LONG NDIS_STATUS, *PNDIS_STATUS;
typedef ULONG NDIS_PORT_NUMBER, *PNDIS_PORT_NUMBER;
typedef unsigned int UINT;

#define NDIS_STATUS_SUCCESS ((NDIS_STATUS)0x00000000L)
#define NDIS_STATUS_PENDING ((NDIS_STATUS)0x00000103L)
#define NDIS_STATUS_FAILURE ((NDIS_STATUS)0xC0000001L)
#define NDIS_STATUS_RESOURCES ((NDIS_STATUS)0xC000009AL)
#define NDIS_STATUS_INVALID_PARAMETER ((NDIS_STATUS)0xC0000013L)
#define NDIS_STATUS_INVALID_LENGTH ((NDIS_STATUS)0xC0010014L)
#define NDIS_STATUS_ADAPTER_NOT_FOUND ((NDIS_STATUS)0xC0010006L)
#define NDIS_STATUS_ADAPTER_NOT_READY ((NDIS_STATUS)0xC0010011L)
#define NDIS_STATUS_MEDIA_DISCONNECTED ((NDIS_STATUS)0xC001001FL)

#define NDIS_DEFAULT_PORT_NUMBER ((NDIS_PORT_NUMBER)0)
/* ReceiveFlags: the NBLs go back to the miniport when the handler returns. */
#define NDIS_RECEIVE_FLAGS_RESOURCES 0x00000002
/* SendFlags / SendCompleteFlags / ReceiveFlags, as Windows has them. */
#define NDIS_SEND_FLAGS_DISPATCH_LEVEL 0x00000001
#define NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL 0x00000001
#define NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL 0x00000001

/* The largest frame the miniport sends or receives, without the CRC. */
#define NDIS_MAX_FRAME_SIZE 1514

/* ---- MDL: Windows' layout exactly ----------------------------------------- */

typedef struct _MDL {
    struct _MDL *Next;
    CSHORT Size; /* of the MDL and its PFN array, in bytes */
    CSHORT MdlFlags;
    struct _EPROCESS *Process;
    PVOID MappedSystemVa;
    PVOID StartVa;
    ULONG ByteCount;
    ULONG ByteOffset;
} MDL, *PMDL;

#define MDL_MAPPED_TO_SYSTEM_VA 0x0001
#define MDL_PAGES_LOCKED 0x0002
#define MDL_SOURCE_IS_NONPAGED_POOL 0x0004
#define MDL_ALLOCATED_FIXED_SIZE 0x0008

/* ---- NET_BUFFER ------------------------------------------------------------ */

typedef struct _NET_BUFFER *PNET_BUFFER;
typedef struct _NET_BUFFER_LIST *PNET_BUFFER_LIST;
typedef struct _NET_BUFFER_LIST_CONTEXT *PNET_BUFFER_LIST_CONTEXT;

typedef LARGE_INTEGER PHYSICAL_ADDRESS, NDIS_PHYSICAL_ADDRESS;

typedef struct _NET_BUFFER_DATA {
    PNET_BUFFER Next;
    PMDL CurrentMdl;
    ULONG CurrentMdlOffset;
    union {
        ULONG DataLength;
        SIZE_T stDataLength;
    };
    PMDL MdlChain;
    ULONG DataOffset;
} NET_BUFFER_DATA, *PNET_BUFFER_DATA;

typedef union _NET_BUFFER_HEADER {
    NET_BUFFER_DATA NetBufferData;
} NET_BUFFER_HEADER, *PNET_BUFFER_HEADER;

typedef struct _NET_BUFFER {
    union {
        struct {
            PNET_BUFFER Next;
            PMDL CurrentMdl;
            ULONG CurrentMdlOffset;
            union {
                ULONG DataLength;
                SIZE_T stDataLength;
            };
            PMDL MdlChain;
            ULONG DataOffset;
        };
        NET_BUFFER_HEADER NetBufferHeader;
    };
    USHORT ChecksumBias;
    USHORT Reserved;
    NDIS_HANDLE NdisPoolHandle;
    PVOID NdisReserved[2];
    PVOID ProtocolReserved[6];
    PVOID MiniportReserved[4];
    NDIS_PHYSICAL_ADDRESS DataPhysicalAddress;
    PVOID ScatterGatherList;
} NET_BUFFER;

/* ---- NET_BUFFER_LIST ------------------------------------------------------- */

typedef struct _NET_BUFFER_LIST_CONTEXT {
    PNET_BUFFER_LIST_CONTEXT Next;
    USHORT Size;
    USHORT Offset;
    UCHAR ContextData[];
} NET_BUFFER_LIST_CONTEXT;

typedef struct _NET_BUFFER_LIST_DATA {
    PNET_BUFFER_LIST Next;
    PNET_BUFFER FirstNetBuffer;
} NET_BUFFER_LIST_DATA, *PNET_BUFFER_LIST_DATA;

typedef union _NET_BUFFER_LIST_HEADER {
    NET_BUFFER_LIST_DATA NetBufferListData;
} NET_BUFFER_LIST_HEADER, *PNET_BUFFER_LIST_HEADER;

#define MaxNetBufferListInfo 20

typedef struct _NET_BUFFER_LIST {
    union {
        struct {
            PNET_BUFFER_LIST Next;
            PNET_BUFFER FirstNetBuffer;
        };
        NET_BUFFER_LIST_HEADER NetBufferListHeader;
    };
    PNET_BUFFER_LIST_CONTEXT Context;
    PNET_BUFFER_LIST ParentNetBufferList;
    NDIS_HANDLE NdisPoolHandle;
    PVOID NdisReserved[2];
    PVOID ProtocolReserved[4];
    PVOID MiniportReserved[2];
    PVOID Scratch;
    NDIS_HANDLE SourceHandle;
    ULONG NblFlags;
    LONG ChildRefCount;
    ULONG Flags;
    union {
        NDIS_STATUS Status;
        ULONG NdisReserved2;
    };
    PVOID NetBufferListInfo[MaxNetBufferListInfo];
} NET_BUFFER_LIST;

#define NET_BUFFER_NEXT_NB(nb) ((nb)->Next)
#define NET_BUFFER_FIRST_MDL(nb) ((nb)->MdlChain)
#define NET_BUFFER_DATA_LENGTH(nb) ((nb)->DataLength)
#define NET_BUFFER_DATA_OFFSET(nb) ((nb)->DataOffset)
#define NET_BUFFER_CURRENT_MDL(nb) ((nb)->CurrentMdl)
#define NET_BUFFER_CURRENT_MDL_OFFSET(nb) ((nb)->CurrentMdlOffset)
#define NET_BUFFER_LIST_NEXT_NBL(nbl) ((nbl)->Next)
#define NET_BUFFER_LIST_FIRST_NB(nbl) ((nbl)->FirstNetBuffer)
#define NET_BUFFER_LIST_STATUS(nbl) ((nbl)->Status)

/* ---- handlers and handles --------------------------------------------------- */

/* The protocol's handlers (Windows' PROTOCOL_RECEIVE_NET_BUFFER_LISTS and
   PROTOCOL_SEND_NET_BUFFER_LISTS_COMPLETE). */
typedef struct _NET_PROTOCOL_HANDLERS {
    VOID (*ReceiveNetBufferLists)(NDIS_HANDLE ProtocolBindingContext, PNET_BUFFER_LIST NetBufferLists,
                                  NDIS_PORT_NUMBER PortNumber, ULONG NumberOfNetBufferLists, ULONG ReceiveFlags);
    VOID (*SendNetBufferListsComplete)(NDIS_HANDLE ProtocolBindingContext, PNET_BUFFER_LIST NetBufferLists,
                                       ULONG SendCompleteFlags);
} NET_PROTOCOL_HANDLERS;

/* The miniport's handler NDIS calls to send (Windows'
   MINIPORT_SEND_NET_BUFFER_LISTS). */
typedef VOID (*MINIPORT_SEND_NET_BUFFER_LISTS)(NDIS_HANDLE MiniportAdapterContext, PNET_BUFFER_LIST NetBufferLists,
                                               NDIS_PORT_NUMBER PortNumber, ULONG SendFlags);

/* The adapter as NDIS knows it: MiniportAdapterHandle. */
typedef struct _NDIS_MINIPORT_BLOCK {
    NDIS_HANDLE MiniportAdapterContext; /* the miniport's own adapter */
    MINIPORT_SEND_NET_BUFFER_LISTS SendNetBufferListsHandler;
    UCHAR CurrentAddress[6];
    USHORT MaxFrameSize;
    struct _NDIS_OPEN_BLOCK *OpenQueue; /* the bound protocol, or NULL */
    ULONG64 SentFrames, ReceivedFrames, DroppedFrames;
} NDIS_MINIPORT_BLOCK, *PNDIS_MINIPORT_BLOCK;

/* A protocol's binding to the adapter: NdisBindingHandle. */
typedef struct _NDIS_OPEN_BLOCK {
    PNDIS_MINIPORT_BLOCK MiniportHandle;
    NDIS_HANDLE ProtocolBindingContext;
    NET_PROTOCOL_HANDLERS Handlers;
} NDIS_OPEN_BLOCK, *PNDIS_OPEN_BLOCK;

/* The one adapter, or NULL when the machine has no e1000. */
extern PNDIS_MINIPORT_BLOCK NdisMiniportList;

/* ---- calls -------------------------------------------------------------------- */

NDIS_STATUS NdisOpenAdapterSimple(const NET_PROTOCOL_HANDLERS *Handlers, NDIS_HANDLE ProtocolBindingContext,
                                  NDIS_HANDLE *NdisBindingHandle, UCHAR MacAddress[6]);

VOID NdisSendNetBufferLists(NDIS_HANDLE NdisBindingHandle, PNET_BUFFER_LIST NetBufferLists,
                            NDIS_PORT_NUMBER PortNumber, ULONG SendFlags);
VOID NdisMSendNetBufferListsComplete(NDIS_HANDLE MiniportAdapterHandle, PNET_BUFFER_LIST NetBufferLists,
                                     ULONG SendCompleteFlags);
VOID NdisMIndicateReceiveNetBufferLists(NDIS_HANDLE MiniportAdapterHandle, PNET_BUFFER_LIST NetBufferLists,
                                        NDIS_PORT_NUMBER PortNumber, ULONG NumberOfNetBufferLists,
                                        ULONG ReceiveFlags);

NDIS_HANDLE NdisAllocateNetBufferListPool(NDIS_HANDLE NdisHandle, PVOID Parameters);
PNET_BUFFER_LIST NdisAllocateNetBufferAndNetBufferList(NDIS_HANDLE PoolHandle, USHORT ContextSize,
                                                       USHORT ContextBackFill, PMDL MdlChain, ULONG DataOffset,
                                                       SIZE_T DataLength);
VOID NdisFreeNetBufferList(PNET_BUFFER_LIST NetBufferList);
PMDL NdisAllocateMdl(NDIS_HANDLE NdisHandle, PVOID VirtualAddress, UINT Length);
VOID NdisFreeMdl(PMDL Mdl);

/* Copies up to max bytes of nb's data (from DataOffset, across its MDLs)
   to out; returns the count copied, or 0 when the chain is shorter than
   DataOffset + DataLength (the NB is malformed). */
ULONG NdisCopyFromNetBuffer(PNET_BUFFER Nb, PUCHAR Out, ULONG Max);

/* mini-NT's own (mdl.c): describe length bytes at va in a caller's MDL;
   point nb at length bytes from offset into chain, setting CurrentMdl and
   CurrentMdlOffset (FALSE when the chain is too short). */
VOID NdisInitializeMdl(PMDL Mdl, PVOID VirtualAddress, ULONG Length);
BOOLEAN NdisSetNetBufferData(PNET_BUFFER Nb, PMDL MdlChain, ULONG DataOffset, ULONG DataLength);

/* The report's frame hash: FNV-1a 32 of the bytes. */
ULONG NdisFrameHash(const UCHAR *Frame, ULONG Length);

/* ndischeck.c: the start-up check's two ARP frames (see there). */
VOID NdisSendStartupCheck(PNDIS_MINIPORT_BLOCK Miniport);

/* Started by the kernel's Phase 1 after the rest is up: finds the NIC,
   starts the miniport and its receive thread. A no-op without a NIC. */
VOID NdisInitializeNetwork(VOID);

#endif
