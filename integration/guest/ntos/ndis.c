/*
 * mini-NT's NDIS: the protocol binding, the send path protocol -> miniport
 * and the completion and receive paths miniport -> protocol, in Windows'
 * names (see ndis.h). One adapter (the e1000, e1000.c) and one protocol.
 *
 * NdisSendNetBufferLists records the sender's open in each NBL's
 * SourceHandle, as Windows does, so NdisMSendNetBufferListsComplete can
 * return every NBL to the open that sent it: the protocol's, or NDIS's own
 * for the frames of the start-up check (NdisSelfOpen).
 */
#include "ke.h"
#include "ndis.h"

PNDIS_MINIPORT_BLOCK NdisMiniportList;
static NDIS_OPEN_BLOCK NdisProtocolOpen;

NDIS_STATUS NdisOpenAdapterSimple(const NET_PROTOCOL_HANDLERS *Handlers, NDIS_HANDLE ProtocolBindingContext,
                                  NDIS_HANDLE *NdisBindingHandle, UCHAR MacAddress[6]) {
    PNDIS_MINIPORT_BLOCK mp = NdisMiniportList;
    if (!Handlers || !NdisBindingHandle) return NDIS_STATUS_INVALID_PARAMETER;
    if (!mp) return NDIS_STATUS_ADAPTER_NOT_FOUND;
    if (mp->OpenQueue) return NDIS_STATUS_ADAPTER_NOT_READY;
    NdisProtocolOpen.MiniportHandle = mp;
    NdisProtocolOpen.ProtocolBindingContext = ProtocolBindingContext;
    NdisProtocolOpen.Handlers = *Handlers;
    mp->OpenQueue = &NdisProtocolOpen;
    if (MacAddress) memcpy(MacAddress, mp->CurrentAddress, 6);
    *NdisBindingHandle = &NdisProtocolOpen;
    return NDIS_STATUS_SUCCESS;
}

NOINLINE VOID NdisSendNetBufferLists(NDIS_HANDLE NdisBindingHandle, PNET_BUFFER_LIST NetBufferLists,
                                     NDIS_PORT_NUMBER PortNumber, ULONG SendFlags) {
    PNDIS_OPEN_BLOCK open = NdisBindingHandle;
    if (!NetBufferLists) return;
    for (PNET_BUFFER_LIST nbl = NetBufferLists; nbl; nbl = nbl->Next) {
        nbl->SourceHandle = open;
        nbl->Status = NDIS_STATUS_PENDING;
    }
    PNDIS_MINIPORT_BLOCK mp = open ? open->MiniportHandle : NULL;
    if (!mp) {
        /* Not bound: Windows would never get here; fail every NBL back. */
        for (PNET_BUFFER_LIST nbl = NetBufferLists; nbl; nbl = nbl->Next) nbl->Status = NDIS_STATUS_ADAPTER_NOT_FOUND;
        if (open && open->Handlers.SendNetBufferListsComplete)
            open->Handlers.SendNetBufferListsComplete(open->ProtocolBindingContext, NetBufferLists, 0);
        return;
    }
    mp->SendNetBufferListsHandler(mp->MiniportAdapterContext, NetBufferLists, PortNumber, SendFlags);
}

NOINLINE VOID NdisMSendNetBufferListsComplete(NDIS_HANDLE MiniportAdapterHandle, PNET_BUFFER_LIST NetBufferLists,
                                              ULONG SendCompleteFlags) {
    /* Each run of NBLs from the same open goes back to it as one chain. */
    while (NetBufferLists) {
        PNET_BUFFER_LIST run = NetBufferLists, last = run;
        while (last->Next && last->Next->SourceHandle == run->SourceHandle) last = last->Next;
        NetBufferLists = last->Next;
        last->Next = NULL;
        PNDIS_OPEN_BLOCK open = run->SourceHandle;
        if (open && open->Handlers.SendNetBufferListsComplete)
            open->Handlers.SendNetBufferListsComplete(open->ProtocolBindingContext, run, SendCompleteFlags);
    }
}

NOINLINE VOID NdisMIndicateReceiveNetBufferLists(NDIS_HANDLE MiniportAdapterHandle, PNET_BUFFER_LIST NetBufferLists,
                                                 NDIS_PORT_NUMBER PortNumber, ULONG NumberOfNetBufferLists,
                                                 ULONG ReceiveFlags) {
    PNDIS_MINIPORT_BLOCK mp = MiniportAdapterHandle;
    mp->ReceivedFrames += NumberOfNetBufferLists;
    PNDIS_OPEN_BLOCK open = mp->OpenQueue;
    /* No protocol bound yet: the frames are seen (and reported by the
       miniport) but go nowhere, as on Windows before a binding. */
    if (!open || !open->Handlers.ReceiveNetBufferLists) return;
    open->Handlers.ReceiveNetBufferLists(open->ProtocolBindingContext, NetBufferLists, PortNumber,
                                         NumberOfNetBufferLists, ReceiveFlags | NDIS_RECEIVE_FLAGS_RESOURCES);
}

ULONG NdisFrameHash(const UCHAR *Frame, ULONG Length) {
    ULONG h = 0x811c9dc5u;
    for (ULONG i = 0; i < Length; i++) {
        h ^= Frame[i];
        h *= 0x01000193u;
    }
    return h;
}
