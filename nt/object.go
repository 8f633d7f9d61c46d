package nt

import "fmt"

// Object is a kernel object, from its _OBJECT_HEADER.
type Object struct {
	Header uint64 // kernel VA of the _OBJECT_HEADER
	Body   uint64 // the object itself (EPROCESS, FILE_OBJECT, ...)
	// TypeIndex is the decoded index into ObTypeIndexTable; Type is that
	// type's _OBJECT_TYPE.Name ("Process", "File", "Event", ...).
	TypeIndex uint64
	Type      string
	// Name is the object's name: for a File, the volume-relative path
	// (FileName); otherwise its path in the object namespace
	// (\BaseNamedObjects\frost-ready) when it has a name, or its bare
	// name when it has one but is in no directory.
	Name string
	// File is set for File objects.
	File *FileObject
}

// FileObject is what a FILE_OBJECT says about its file.
type FileObject struct {
	// Name is FileName: relative to the volume (\frost\log.txt).
	Name string
	// Device is the volume's DEVICE_OBJECT; DeviceName its object name
	// (\Device\HarddiskVolume1) when the kernel keeps one, and
	// DriverName its driver's (\Driver\atapi).
	Device                 uint64
	DeviceName, DriverName string
}

// Path names the file with its device, as Windows' object manager would
// show it: \Device\HarddiskVolume1\frost\log.txt, or with the driver in
// brackets when the device has no name.
func (f FileObject) Path() string {
	switch {
	case f.DeviceName != "":
		return f.DeviceName + f.Name
	case f.DriverName != "":
		return "[" + f.DriverName + "]" + f.Name
	}
	return f.Name
}

// headerOfBody turns an object body address into its header's.
func (k *Kernel) headerOfBody(body uint64) (uint64, error) {
	off, err := k.lay.offset("_OBJECT_HEADER.Body")
	return body - off, err
}

// ObjectAt reads the object whose _OBJECT_HEADER is at header.
func (k *Kernel) ObjectAt(header uint64, types map[uint64]string) (Object, error) {
	o, err := k.readObject("_OBJECT_HEADER", k.dtb, header)
	if err != nil {
		return Object{}, err
	}
	bodyOff, err := k.lay.offset("_OBJECT_HEADER.Body")
	if err != nil {
		return Object{}, err
	}
	obj := Object{Header: header, Body: header + bodyOff}
	raw, err := o.uint("TypeIndex")
	if err != nil {
		return obj, err
	}
	if obj.TypeIndex, err = k.decodeTypeIndex(header, raw); err != nil {
		return obj, err
	}
	name, ok := types[obj.TypeIndex]
	if !ok {
		if name, err = k.TypeName(obj.TypeIndex); err != nil {
			return obj, err
		}
		if types != nil {
			types[obj.TypeIndex] = name
		}
	}
	obj.Type = name
	if name == "File" {
		f, err := k.FileObjectAt(obj.Body)
		if err != nil {
			return obj, err
		}
		obj.File, obj.Name = &f, f.Name
	} else if obj.Name, err = k.objectName(o); err != nil {
		return obj, err
	}
	return obj, nil
}

// decodeTypeIndex undoes Windows 10's scrambling of _OBJECT_HEADER.
// TypeIndex: index = TypeIndex ^ ObHeaderCookie ^ the second byte of the
// header's address. A build without ObHeaderCookie stores the index as is.
func (k *Kernel) decodeTypeIndex(header, raw uint64) (uint64, error) {
	va, err := k.global("ObHeaderCookie")
	if err != nil {
		return raw, nil
	}
	var cookie [1]byte
	if err := k.read("ObHeaderCookie", k.dtb, va, cookie[:]); err != nil {
		return 0, err
	}
	return (raw ^ uint64(cookie[0]) ^ (header>>8)&0xff) & 0xff, nil
}

// TypeName is the name of ObTypeIndexTable[index].
func (k *Kernel) TypeName(index uint64) (string, error) {
	table, err := k.global("ObTypeIndexTable")
	if err != nil {
		return "", err
	}
	if index > 0xff {
		return "", &WalkError{What: "ObTypeIndexTable", At: table, Err: ErrCorrupt, Msg: fmt.Sprintf("index %d", index)}
	}
	t, err := k.pointer("ObTypeIndexTable[]", table+8*index)
	if err != nil {
		return "", err
	}
	if t == 0 {
		return "", &WalkError{What: "ObTypeIndexTable", At: table + 8*index, Err: ErrCorrupt, Msg: fmt.Sprintf("no type at index %d", index)}
	}
	o, err := k.readObject("_OBJECT_TYPE", k.dtb, t)
	if err != nil {
		return "", err
	}
	return k.unicodeFrom(k.dtb, o, "Name")
}

// FileObjectAt reads a FILE_OBJECT: its volume-relative name and its
// device.
func (k *Kernel) FileObjectAt(body uint64) (FileObject, error) {
	o, err := k.readObject("_FILE_OBJECT", k.dtb, body)
	if err != nil {
		return FileObject{}, err
	}
	var f FileObject
	if f.Name, err = k.unicodeFrom(k.dtb, o, "FileName"); err != nil {
		return f, err
	}
	if f.Device, err = o.uint("DeviceObject"); err != nil || f.Device == 0 {
		return f, err
	}
	if hdr, err := k.headerOfBody(f.Device); err == nil {
		if ho, err := k.readObject("_OBJECT_HEADER", k.dtb, hdr); err == nil {
			f.DeviceName, _ = k.objectName(ho)
		}
	}
	dev, err := k.readObject("_DEVICE_OBJECT", k.dtb, f.Device)
	if err != nil {
		return f, err
	}
	drv, err := dev.uintOr("DriverObject")
	if err != nil || drv == 0 {
		return f, err
	}
	d, err := k.readObject("_DRIVER_OBJECT", k.dtb, drv)
	if err != nil {
		return f, err
	}
	if k.lay.has("_DRIVER_OBJECT.DriverName") {
		f.DriverName, err = k.unicodeFrom(k.dtb, d, "DriverName")
	}
	return f, err
}
