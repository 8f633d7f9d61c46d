/*
 * MDLs, NET_BUFFER_LISTs and their NET_BUFFERs for mini-NT's NDIS.
 *
 * mini-NT's pool never frees, so what NdisFree* gives back goes on a free
 * list here and the next allocation of the same kind takes it. An NBL is
 * allocated together with its one NET_BUFFER and room for its context
 * (NDIS_MAX_NBL_CONTEXT bytes at most), in one block.
 */
#include "ke.h"
#include "ndis.h"

#define NDIS_MAX_NBL_CONTEXT 256

typedef struct _NDIS_NBL_BLOCK {
    NET_BUFFER_LIST Nbl;
    NET_BUFFER Nb;
    /* A NET_BUFFER_LIST_CONTEXT and its data. */
    ULONG64 Context[(sizeof(NET_BUFFER_LIST_CONTEXT) + NDIS_MAX_NBL_CONTEXT + 7) / 8];
} NDIS_NBL_BLOCK;

static PMDL NdisFreeMdls;
static NDIS_NBL_BLOCK *NdisFreeNbls;
/* The default pool handle: NdisAllocateNetBufferListPool's only pool. */
static UCHAR NdisDefaultNblPool;

/* Describes length bytes at va in mdl (nonpaged memory, mapped). */
void NdisInitializeMdl(PMDL mdl, PVOID va, ULONG length) {
    mdl->Next = NULL;
    mdl->Size = (CSHORT)(sizeof(MDL) + sizeof(ULONG64) * (((ULONG64)va & 0xFFF) + length + 0xFFF) / 0x1000);
    mdl->MdlFlags = MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL;
    mdl->Process = NULL;
    mdl->MappedSystemVa = va;
    mdl->StartVa = (PVOID)((ULONG64)va & ~0xFFFull);
    mdl->ByteCount = length;
    mdl->ByteOffset = (ULONG)((ULONG64)va & 0xFFF);
}

PMDL NdisAllocateMdl(NDIS_HANDLE NdisHandle, PVOID VirtualAddress, UINT Length) {
    PMDL mdl = NdisFreeMdls;
    if (mdl)
        NdisFreeMdls = mdl->Next;
    else
        mdl = ExAllocatePoolWithTag(NonPagedPool, sizeof(MDL), 'ldMN');
    NdisInitializeMdl(mdl, VirtualAddress, Length);
    return mdl;
}

VOID NdisFreeMdl(PMDL Mdl) {
    if (!Mdl) return;
    Mdl->Next = NdisFreeMdls;
    NdisFreeMdls = Mdl;
}

NDIS_HANDLE NdisAllocateNetBufferListPool(NDIS_HANDLE NdisHandle, PVOID Parameters) { return &NdisDefaultNblPool; }

/* Sets nb's data to length bytes from offset into its MdlChain, with
   CurrentMdl/CurrentMdlOffset naming the first byte's MDL. FALSE when the
   chain is too short. */
BOOLEAN NdisSetNetBufferData(PNET_BUFFER nb, PMDL chain, ULONG offset, ULONG length) {
    nb->MdlChain = chain;
    nb->DataOffset = offset;
    nb->stDataLength = 0;
    nb->DataLength = length;
    PMDL m = chain;
    ULONG skip = offset;
    /* The first data byte's MDL: skip whole MDLs before it (an empty
       buffer's may be where the offset ends, the last). */
    while (m && skip >= m->ByteCount && m->Next) {
        skip -= m->ByteCount;
        m = m->Next;
    }
    nb->CurrentMdl = m;
    nb->CurrentMdlOffset = m ? skip : 0;
    ULONG64 avail = 0;
    for (PMDL x = m; x; x = x->Next) avail += x->ByteCount;
    return (m || (offset == 0 && length == 0)) && avail >= (ULONG64)skip + length;
}

PNET_BUFFER_LIST NdisAllocateNetBufferAndNetBufferList(NDIS_HANDLE PoolHandle, USHORT ContextSize,
                                                       USHORT ContextBackFill, PMDL MdlChain, ULONG DataOffset,
                                                       SIZE_T DataLength) {
    if ((ULONG)ContextSize + ContextBackFill > NDIS_MAX_NBL_CONTEXT || DataLength > 0xFFFFFFFFull) return NULL;
    NDIS_NBL_BLOCK *b = NdisFreeNbls;
    if (b) {
        NdisFreeNbls = (NDIS_NBL_BLOCK *)b->Nbl.Next;
        memset(b, 0, sizeof(*b));
    } else {
        b = ExAllocatePoolWithTag(NonPagedPool, sizeof(*b), 'lbNN');
    }
    NET_BUFFER_LIST *nbl = &b->Nbl;
    nbl->NdisPoolHandle = PoolHandle ? PoolHandle : &NdisDefaultNblPool;
    nbl->FirstNetBuffer = &b->Nb;
    b->Nb.NdisPoolHandle = nbl->NdisPoolHandle;
    if (ContextSize) {
        NET_BUFFER_LIST_CONTEXT *c = (NET_BUFFER_LIST_CONTEXT *)b->Context;
        c->Size = (USHORT)(ContextSize + ContextBackFill);
        c->Offset = ContextBackFill;
        nbl->Context = c;
    }
    if (!NdisSetNetBufferData(&b->Nb, MdlChain, DataOffset, (ULONG)DataLength)) {
        NdisFreeNetBufferList(nbl);
        return NULL;
    }
    return nbl;
}

VOID NdisFreeNetBufferList(PNET_BUFFER_LIST NetBufferList) {
    if (!NetBufferList) return;
    NDIS_NBL_BLOCK *b = CONTAINING_RECORD(NetBufferList, NDIS_NBL_BLOCK, Nbl);
    b->Nbl.Next = (PNET_BUFFER_LIST)NdisFreeNbls;
    NdisFreeNbls = b;
}

ULONG NdisCopyFromNetBuffer(PNET_BUFFER Nb, PUCHAR Out, ULONG Max) {
    ULONG want = Nb->DataLength < Max ? Nb->DataLength : Max;
    ULONG done = 0, off = Nb->CurrentMdlOffset;
    for (PMDL m = Nb->CurrentMdl; m && done < want; m = m->Next, off = 0) {
        if (off > m->ByteCount) return 0;
        ULONG n = m->ByteCount - off;
        if (n > want - done) n = want - done;
        memcpy(Out + done, (PUCHAR)m->MappedSystemVa + off, n);
        done += n;
    }
    return done == want ? done : 0;
}
