package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// frostctl's --json is for scripts (docs/frostctl-json.md): the API's
// messages with every field present (zero values too, so a script never
// tests for a missing key), field names as in the .proto, enums by name,
// addresses as "0x…" strings (jq and Python read them with one call, and
// no 64-bit address loses bits in a JavaScript number), other integers as
// numbers, and a register file as one flat object {"rax": "0x…", ...}.
// --json=proto prints protojson's own form instead, for programs that
// decode it into the API's Go or Python types.

// addressFields are the 64-bit fields that hold an address (or a value
// read as one, like a register or a handle): printed in hex.
var addressFields = map[protoreflect.Name]bool{
	"address": true, "base": true, "dtb": true, "dtbs": true, "start": true, "end": true,
	"va": true, "rip": true, "rsp": true, "call_rsp": true, "module_base": true,
	"preferred_base": true, "entry_point": true, "start_address": true, "teb": true,
	"eprocess": true, "ethread": true, "object": true, "vad": true, "handle": true,
	"net_buffer_list": true, "net_buffer": true, "buffer": true, "return_of": true,
	"prototype_pte": true, "value": true, "rva": true, "raw": true,
}

// jsonOf renders m in the script form, on one line.
func jsonOf(m proto.Message) (json.RawMessage, error) {
	var b bytes.Buffer
	if err := writeMessage(&b, m.ProtoReflect()); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func hexString(v uint64) string { return `"0x` + strconv.FormatUint(v, 16) + `"` }

func writeMessage(b *bytes.Buffer, m protoreflect.Message) error {
	switch m.Descriptor().FullName() {
	case "google.protobuf.Timestamp", "google.protobuf.Duration":
		// RFC 3339 times and "1.5s" durations, as protojson writes them.
		out, err := protojson.Marshal(m.Interface())
		if err != nil {
			return err
		}
		b.Write(out)
		return nil
	}
	b.WriteByte('{')
	fields := m.Descriptor().Fields()
	first := true
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		// Of a oneof, the member that is set: the others are not zero
		// values but absent alternatives. An unset proto3 optional is null.
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() && !m.Has(fd) {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		name, _ := json.Marshal(string(fd.Name()))
		b.Write(name)
		b.WriteByte(':')
		if fd.HasPresence() && fd.Cardinality() != protoreflect.Repeated && !m.Has(fd) && fd.Message() == nil {
			b.WriteString("null")
			continue
		}
		if err := writeField(b, fd, m.Get(fd)); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

func writeField(b *bytes.Buffer, fd protoreflect.FieldDescriptor, v protoreflect.Value) error {
	switch {
	case fd.IsMap():
		b.WriteByte('{')
		first := true
		var err error
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			if !first {
				b.WriteByte(',')
			}
			first = false
			key, _ := json.Marshal(k.String())
			b.Write(key)
			b.WriteByte(':')
			err = writeValue(b, fd.MapValue(), mv)
			return err == nil
		})
		b.WriteByte('}')
		return err
	case fd.IsList():
		if fd.Message() != nil && fd.Message().FullName() == "frost.v1.Register" {
			return writeRegisters(b, v.List())
		}
		b.WriteByte('[')
		for i := 0; i < v.List().Len(); i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeValue(b, fd, v.List().Get(i)); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	}
	return writeValue(b, fd, v)
}

func writeValue(b *bytes.Buffer, fd protoreflect.FieldDescriptor, v protoreflect.Value) error {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if !v.Message().IsValid() {
			// An unset message: null, as protojson writes it (its zero
			// values would recurse without end in a self-referring type).
			b.WriteString("null")
			return nil
		}
		return writeMessage(b, v.Message())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			b.WriteString(strconv.Quote(string(ev.Name())))
		} else {
			b.WriteString(strconv.Itoa(int(v.Enum())))
		}
	case protoreflect.BoolKind:
		b.WriteString(strconv.FormatBool(v.Bool()))
	case protoreflect.StringKind:
		s, err := json.Marshal(v.String())
		if err != nil {
			return err
		}
		b.Write(s)
	case protoreflect.BytesKind:
		b.WriteString(`"` + base64.StdEncoding.EncodeToString(v.Bytes()) + `"`)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if addressFields[fd.Name()] {
			b.WriteString(hexString(v.Uint()))
		} else {
			b.WriteString(strconv.FormatUint(v.Uint(), 10))
		}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		b.WriteString(strconv.FormatUint(v.Uint(), 10))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		b.WriteString(strconv.FormatInt(v.Int(), 10))
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			// JSON has no NaN or infinity: protojson's spellings, quoted.
			b.WriteString(strconv.Quote(fmt.Sprint(f)))
		} else {
			b.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
		}
	default:
		return fmt.Errorf("json: field %s has kind %v", fd.FullName(), fd.Kind())
	}
	return nil
}

// writeRegisters writes a register file as one object, name to value in
// hex: the value for registers of up to 8 bytes, else the little-endian
// raw bytes as one number (xmm0 = "0x…" of 32 digits).
func writeRegisters(b *bytes.Buffer, l protoreflect.List) error {
	b.WriteByte('{')
	for i := 0; i < l.Len(); i++ {
		m := l.Get(i).Message()
		fields := m.Descriptor().Fields()
		name := m.Get(fields.ByName("name")).String()
		value := m.Get(fields.ByName("value")).Uint()
		raw := m.Get(fields.ByName("raw")).Bytes()
		if i > 0 {
			b.WriteByte(',')
		}
		key, _ := json.Marshal(name)
		b.Write(key)
		b.WriteByte(':')
		if len(raw) > 8 {
			be := make([]byte, len(raw))
			for j := range raw {
				be[len(raw)-1-j] = raw[j]
			}
			b.WriteString(`"0x` + hex.EncodeToString(be) + `"`)
			continue
		}
		b.WriteString(hexString(value))
	}
	b.WriteByte('}')
	return nil
}

// jsonForm is --json's value: off, the script form, or protojson's.
type jsonForm struct{ c *cli }

func (f jsonForm) String() string {
	switch {
	case !f.c.json:
		return "false"
	case f.c.protoJSON:
		return "proto"
	}
	return "script"
}

func (f jsonForm) Set(s string) error {
	switch s {
	case "script", "true":
		f.c.json, f.c.protoJSON = true, false
	case "proto":
		f.c.json, f.c.protoJSON = true, true
	case "false":
		f.c.json, f.c.protoJSON = false, false
	default:
		return fmt.Errorf("want --json, --json=script or --json=proto, not %q", s)
	}
	return nil
}

func (f jsonForm) Type() string { return "" }

// marshal renders m as --json asks: indented unless line (a streamed
// message, one per line).
func (c *cli) marshal(m proto.Message, line bool) ([]byte, error) {
	if c.protoJSON {
		o := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}
		if !line {
			o.Multiline, o.Indent = true, "  "
		}
		return o.Marshal(m)
	}
	raw, err := jsonOf(m)
	if err != nil || line {
		return raw, err
	}
	var b bytes.Buffer
	err = json.Indent(&b, raw, "", "  ")
	return b.Bytes(), err
}
