package nt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/frostvmi/frost/symbols/store"
)

// fieldsUsed is every field path nt reads, fully qualified. The test below
// checks them against a real Windows 10 kernel's symbols, so a path that
// only mini-NT's PDB has is caught here rather than on a real guest.
var fieldsUsed = []string{
	"_LIST_ENTRY.Flink",
	"_UNICODE_STRING.Length", "_UNICODE_STRING.MaximumLength", "_UNICODE_STRING.Buffer",
	"_EPROCESS.Pcb", "_EPROCESS.Pcb.DirectoryTableBase", "_EPROCESS.Pcb.UserDirectoryTableBase",
	"_EPROCESS.UniqueProcessId", "_EPROCESS.InheritedFromUniqueProcessId", "_EPROCESS.ActiveProcessLinks",
	"_EPROCESS.ImageFileName", "_EPROCESS.Peb", "_EPROCESS.ObjectTable", "_EPROCESS.ThreadListHead", "_EPROCESS.VadRoot.Root",
	"_ETHREAD.Tcb", "_ETHREAD.Cid.UniqueThread", "_ETHREAD.Cid.UniqueProcess", "_ETHREAD.Tcb.Process",
	"_ETHREAD.Tcb.ApcState.Process", "_ETHREAD.Tcb.State", "_ETHREAD.Tcb.Teb", "_ETHREAD.StartAddress",
	"_ETHREAD.Win32StartAddress", "_ETHREAD.ThreadListEntry",
	"_KPCR.Self", "_KPCR.Prcb.CurrentThread",
	"_MMVAD_SHORT.VadNode", "_MMVAD_SHORT.VadNode.Left", "_MMVAD_SHORT.VadNode.Right",
	"_MMVAD_SHORT.StartingVpn", "_MMVAD_SHORT.EndingVpn", "_MMVAD_SHORT.StartingVpnHigh", "_MMVAD_SHORT.EndingVpnHigh",
	"_MMVAD_SHORT.u.VadFlags.VadType", "_MMVAD_SHORT.u.VadFlags.Protection", "_MMVAD_SHORT.u.VadFlags.PrivateMemory",
	"_MMVAD_SHORT.u1.VadFlags1.MemCommit",
	"_MMVAD.Core", "_MMVAD.FirstPrototypePte", "_MMVAD.Subsection",
	"_KLDR_DATA_TABLE_ENTRY.InLoadOrderLinks", "_KLDR_DATA_TABLE_ENTRY.DllBase", "_KLDR_DATA_TABLE_ENTRY.SizeOfImage",
	"_KLDR_DATA_TABLE_ENTRY.EntryPoint", "_KLDR_DATA_TABLE_ENTRY.BaseDllName", "_KLDR_DATA_TABLE_ENTRY.FullDllName",
	"_MI_SYSTEM_INFORMATION.Hardware.InvalidPteMask",
	"_MI_PARTITION.Vp.PagingFile", "_MI_PARTITION.Vp.NumberOfPagingFiles",
	"_MMPAGING_FILE.PageFileNumber", "_MMPAGING_FILE.VirtualStorePagefile", "_MMPAGING_FILE.Size",
	"_MMPAGING_FILE.MinimumSize", "_MMPAGING_FILE.MaximumSize", "_MMPAGING_FILE.File", "_MMPAGING_FILE.PageFileName",
	"_HANDLE_TABLE.TableCode", "_HANDLE_TABLE.NextHandleNeedingPool",
	"_HANDLE_TABLE_ENTRY.ObjectPointerBits", "_HANDLE_TABLE_ENTRY.GrantedAccessBits",
	"_OBJECT_HEADER.Body", "_OBJECT_HEADER.TypeIndex", "_OBJECT_HEADER.InfoMask",
	"_OBJECT_HEADER_NAME_INFO.Name", "_OBJECT_HEADER_NAME_INFO.Directory", "_OBJECT_TYPE.Name",
	"_FILE_OBJECT.FileName", "_FILE_OBJECT.DeviceObject", "_DEVICE_OBJECT.DriverObject", "_DRIVER_OBJECT.DriverName",
	"_SUBSECTION.ControlArea", "_CONTROL_AREA.FilePointer", "_CONTROL_AREA.u.Flags.Image",
	"_CONTROL_AREA.u.Flags.ImageControlAreaOnRemovableMedia", "_EX_FAST_REF.RefCnt",
	// ps's times and command lines, the PEB's loader lists, the shared
	// page, tokens, pool blocks and object directories.
	"_EPROCESS.CreateTime", "_EPROCESS.ExitTime", "_EPROCESS.Token",
	"_PEB.Ldr", "_PEB.ProcessParameters", "_PEB.ImageBaseAddress",
	"_PEB_LDR_DATA.InLoadOrderModuleList", "_PEB_LDR_DATA.InMemoryOrderModuleList", "_PEB_LDR_DATA.InInitializationOrderModuleList",
	"_LDR_DATA_TABLE_ENTRY.InLoadOrderLinks", "_LDR_DATA_TABLE_ENTRY.DllBase", "_LDR_DATA_TABLE_ENTRY.SizeOfImage",
	"_LDR_DATA_TABLE_ENTRY.FullDllName", "_LDR_DATA_TABLE_ENTRY.BaseDllName",
	"_RTL_USER_PROCESS_PARAMETERS.ImagePathName", "_RTL_USER_PROCESS_PARAMETERS.CommandLine",
	"_RTL_USER_PROCESS_PARAMETERS.Environment", "_RTL_USER_PROCESS_PARAMETERS.CurrentDirectory",
	"_KUSER_SHARED_DATA.InterruptTime", "_KUSER_SHARED_DATA.SystemTime", "_KUSER_SHARED_DATA.NtMajorVersion",
	"_KUSER_SHARED_DATA.NtMinorVersion", "_KUSER_SHARED_DATA.NtBuildNumber", "_KUSER_SHARED_DATA.NtSystemRoot",
	"_TOKEN.UserAndGroups", "_TOKEN.UserAndGroupCount", "_SID_AND_ATTRIBUTES.Sid", "_SID.SubAuthorityCount", "_SID.SubAuthority",
	"_POOL_HEADER.PoolTag", "_POOL_HEADER.BlockSize", "_POOL_HEADER.PoolType",
	"_OBJECT_DIRECTORY.HashBuckets", "_OBJECT_DIRECTORY_ENTRY.ChainLink", "_OBJECT_DIRECTORY_ENTRY.Object",
}

// globalsUsed are the kernel globals nt reads on Windows 10 and later.
var globalsUsed = []string{
	"PsActiveProcessHead", "PsLoadedModuleList", "PsInitialSystemProcess", "MiState", "MiSystemPartition",
	"KiImplementedPhysicalBits", "ObHeaderCookie", "ObTypeIndexTable", "ObpKernelHandleTable", "ObpInfoMaskToOffset",
	"ObpRootDirectoryObject",
	"NtWriteFile",
}

func TestRealWindowsISF(t *testing.T) {
	tab := realISFTable(t)
	for _, p := range fieldsUsed {
		if _, err := tab.Field(p); err != nil {
			t.Errorf("Windows 10 19041 lacks %s: %v", p, err)
		}
	}
	for _, g := range globalsUsed {
		if _, err := tab.Address(g); err != nil {
			t.Errorf("Windows 10 19041 lacks %s: %v", g, err)
		}
	}
	// The handle entry's pointer field: 44 bits, so headers are 16-byte
	// aligned (48 - 44 = 4 low bits implied), as decodeEntry derives.
	if f, _ := tab.Field("_HANDLE_TABLE_ENTRY.ObjectPointerBits"); f.BitLength != 44 || f.BitPosition != 20 {
		t.Errorf("ObjectPointerBits at bit %d, %d bits", f.BitPosition, f.BitLength)
	}
	if n, _ := tab.Size("_HANDLE_TABLE_ENTRY"); n != 16 {
		t.Errorf("sizeof(_HANDLE_TABLE_ENTRY) = %d", n)
	}
	// The layout translate needs comes from the same table.
	if _, err := NewLayout(tab); err != nil {
		t.Error(err)
	}
}

// TestMiniNTPDBs: mini-NT's own PDBs (both layouts) have every path too.
func TestMiniNTPDBs(t *testing.T) {
	for _, dir := range []string{"", "reorder"} {
		path := filepath.Join("..", "integration", "guest", "out", dir, "ntkrnlmp.pdb")
		if _, err := os.Stat(path); err != nil {
			unavailable(t, "mini-NT is not built (make guest): %v", err)
		}
		tab, err := store.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range fieldsUsed {
			// mini-NT leaves out what it does not use: object name
			// info, and these are optional in nt.
			if strings.HasPrefix(p, "_OBJECT_HEADER_NAME_INFO.") {
				continue
			}
			if _, err := tab.Field(p); err != nil {
				t.Errorf("%s: %v", path, err)
			}
		}
	}
}
