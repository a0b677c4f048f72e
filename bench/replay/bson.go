// Minimal BSON: walking documents, skipping values, MongoDB's comparison
// order for values (used for _id), and appending the few values replies
// need.  Only what the replay server uses.

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/big"
)

const (
	tDouble     = 0x01
	tString     = 0x02
	tDocument   = 0x03
	tArray      = 0x04
	tBinary     = 0x05
	tUndefined  = 0x06
	tObjectID   = 0x07
	tBool       = 0x08
	tDate       = 0x09
	tNull       = 0x0A
	tRegex      = 0x0B
	tDBPointer  = 0x0C
	tCode       = 0x0D
	tSymbol     = 0x0E
	tCodeScope  = 0x0F
	tInt32      = 0x10
	tTimestamp  = 0x11
	tInt64      = 0x12
	tDecimal128 = 0x13
	tMinKey     = 0xFF
	tMaxKey     = 0x7F
)

var errCorrupt = errors.New("corrupt BSON")

func le32(b []byte) int32  { return int32(binary.LittleEndian.Uint32(b)) }
func le64(b []byte) int64  { return int64(binary.LittleEndian.Uint64(b)) }
func cstrlen(b []byte) int { return bytes.IndexByte(b, 0) }

// valueSize is the length of a value of type t at the start of b, or -1
// when b is too short or the value malformed.
func valueSize(t byte, b []byte) int {
	need := func(n int) int {
		if n < 0 || n > len(b) {
			return -1
		}
		return n
	}
	switch t {
	case tDouble, tDate, tTimestamp, tInt64:
		return need(8)
	case tInt32:
		return need(4)
	case tBool:
		return need(1)
	case tObjectID:
		return need(12)
	case tDecimal128:
		return need(16)
	case tUndefined, tNull, tMinKey, tMaxKey:
		return 0
	case tString, tCode, tSymbol:
		if len(b) < 4 {
			return -1
		}
		n := int(le32(b))
		if n < 1 {
			return -1
		}
		return need(4 + n)
	case tDocument, tArray, tCodeScope:
		if len(b) < 4 {
			return -1
		}
		n := int(le32(b))
		if n < 5 {
			return -1
		}
		return need(n)
	case tBinary:
		if len(b) < 5 {
			return -1
		}
		n := int(le32(b))
		if n < 0 {
			return -1
		}
		return need(5 + n)
	case tRegex:
		i := cstrlen(b)
		if i < 0 {
			return -1
		}
		j := cstrlen(b[i+1:])
		if j < 0 {
			return -1
		}
		return i + j + 2
	case tDBPointer:
		if len(b) < 4 {
			return -1
		}
		n := int(le32(b))
		if n < 1 {
			return -1
		}
		return need(4 + n + 12)
	}
	return -1
}

// elem is one element of a document: its type, key and value bytes.
type elem struct {
	typ   byte
	key   []byte
	value []byte
}

// iter walks the elements of a document.
type iter struct {
	rest []byte
	err  error
}

func newIter(doc []byte) iter {
	if len(doc) < 5 || int(le32(doc)) != len(doc) || doc[len(doc)-1] != 0 {
		return iter{err: errCorrupt}
	}
	return iter{rest: doc[4 : len(doc)-1]}
}

func (it *iter) next(e *elem) bool {
	if it.err != nil || len(it.rest) == 0 {
		return false
	}
	t := it.rest[0]
	k := cstrlen(it.rest[1:])
	if k < 0 {
		it.err = errCorrupt
		return false
	}
	v := it.rest[2+k:]
	n := valueSize(t, v)
	if n < 0 {
		it.err = errCorrupt
		return false
	}
	e.typ, e.key, e.value = t, it.rest[1:1+k], v[:n]
	it.rest = v[n:]
	return true
}

// lookup is the element of doc with key, if any.
func lookup(doc []byte, key string) (elem, bool) {
	it := newIter(doc)
	var e elem
	for it.next(&e) {
		if string(e.key) == key {
			return e, true
		}
	}
	return elem{}, false
}

func (e elem) isNumber() bool {
	return e.typ == tDouble || e.typ == tInt32 || e.typ == tInt64 || e.typ == tDecimal128
}

// asInt64 is a numeric value as an integer (doubles truncated).
func (e elem) asInt64() (int64, bool) {
	switch e.typ {
	case tInt32:
		return int64(le32(e.value)), true
	case tInt64:
		return le64(e.value), true
	case tDouble:
		f := math.Float64frombits(uint64(le64(e.value)))
		if math.IsNaN(f) || f >= 9.2e18 || f <= -9.2e18 {
			return 0, false
		}
		return int64(f), true
	}
	return 0, false
}

func (e elem) str() (string, bool) {
	if e.typ != tString {
		return "", false
	}
	return string(e.value[4 : len(e.value)-1]), true
}

func (e elem) truthy() bool {
	switch e.typ {
	case tBool:
		return e.value[0] != 0
	case tInt32, tInt64, tDouble:
		n, ok := e.asInt64()
		return ok && n != 0
	case tNull, tUndefined:
		return false
	}
	return true
}

// typeBracket is MongoDB's canonical order of BSON types: values of
// different brackets compare by bracket, whatever their content.
func typeBracket(t byte) int {
	switch t {
	case tMinKey:
		return -1
	case tUndefined, tNull:
		return 5
	case tDouble, tInt32, tInt64, tDecimal128:
		return 10
	case tString, tSymbol:
		return 15
	case tDocument:
		return 20
	case tArray:
		return 25
	case tBinary:
		return 30
	case tObjectID:
		return 35
	case tBool:
		return 40
	case tDate:
		return 45
	case tTimestamp:
		return 47
	case tRegex:
		return 50
	case tDBPointer:
		return 55
	case tCode:
		return 60
	case tCodeScope:
		return 65
	case tMaxKey:
		return 127
	}
	return 200
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpFloat(a, b float64) int {
	// NaN sorts before every other number, and equals itself
	an, bn := math.IsNaN(a), math.IsNaN(b)
	switch {
	case an && bn:
		return 0
	case an:
		return -1
	case bn:
		return 1
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cmpIntFloat compares an integer with a double exactly.
func cmpIntFloat(i int64, f float64) int {
	if math.IsNaN(f) {
		return 1
	}
	if f >= 9223372036854775808.0 {
		return -1
	}
	if f < -9223372036854775808.0 {
		return 1
	}
	fl := math.Floor(f)
	t := int64(fl)
	if c := cmpInt(i, t); c != 0 {
		return c
	}
	if f > fl {
		return -1
	}
	return 0
}

// decimalToFloat is a Decimal128 as the nearest double (comparisons
// involving Decimal128 are approximate: no bench uses it for _id).
func decimalToFloat(v []byte) float64 {
	lo := uint64(le64(v))
	hi := uint64(le64(v[8:]))
	neg := hi>>63 != 0
	var exp int
	var coef big.Int
	comb := (hi >> 58) & 0x1F
	switch {
	case comb == 0x1F:
		return math.NaN()
	case comb == 0x1E:
		if neg {
			return math.Inf(-1)
		}
		return math.Inf(1)
	case (hi>>61)&3 == 3:
		exp = int((hi>>47)&0x3FFF) - 6176
		coef.SetUint64(0) // non-canonical: coefficient above the maximum is zero
	default:
		exp = int((hi>>49)&0x3FFF) - 6176
		coef.SetUint64(hi & (1<<49 - 1))
		coef.Lsh(&coef, 64)
		coef.Or(&coef, new(big.Int).SetUint64(lo))
	}
	f := new(big.Float).SetInt(&coef)
	if exp != 0 {
		p := new(big.Float).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(exp))), nil))
		if exp > 0 {
			f.Mul(f, p)
		} else {
			f.Quo(f, p)
		}
	}
	r, _ := f.Float64()
	if neg {
		r = -r
	}
	return r
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func cmpNumbers(at byte, a []byte, bt byte, b []byte) int {
	if at == tDecimal128 || bt == tDecimal128 {
		return cmpFloat(numberFloat(at, a), numberFloat(bt, b))
	}
	ai, aIsInt := intValue(at, a)
	bi, bIsInt := intValue(bt, b)
	switch {
	case aIsInt && bIsInt:
		return cmpInt(ai, bi)
	case aIsInt:
		return cmpIntFloat(ai, math.Float64frombits(uint64(le64(b))))
	case bIsInt:
		return -cmpIntFloat(bi, math.Float64frombits(uint64(le64(a))))
	}
	return cmpFloat(math.Float64frombits(uint64(le64(a))), math.Float64frombits(uint64(le64(b))))
}

func intValue(t byte, v []byte) (int64, bool) {
	switch t {
	case tInt32:
		return int64(le32(v)), true
	case tInt64:
		return le64(v), true
	}
	return 0, false
}

func numberFloat(t byte, v []byte) float64 {
	switch t {
	case tInt32:
		return float64(le32(v))
	case tInt64:
		return float64(le64(v))
	case tDouble:
		return math.Float64frombits(uint64(le64(v)))
	}
	return decimalToFloat(v)
}

func strBytes(v []byte) []byte { return v[4 : len(v)-1] }

// compareValues orders two BSON values as MongoDB sorts them: by type
// bracket, then within the bracket by value.
func compareValues(at byte, a []byte, bt byte, b []byte) int {
	ab, bb := typeBracket(at), typeBracket(bt)
	if ab != bb {
		return cmpInt(int64(ab), int64(bb))
	}
	switch ab {
	case 10:
		return cmpNumbers(at, a, bt, b)
	case 15, 60: // strings, symbols, code: binary comparison
		return bytes.Compare(strBytes(a), strBytes(b))
	case 20, 25:
		return compareDocuments(a, b)
	case 30: // binary: length, subtype, bytes
		if c := cmpInt(int64(le32(a)), int64(le32(b))); c != 0 {
			return c
		}
		if c := cmpInt(int64(a[4]), int64(b[4])); c != 0 {
			return c
		}
		return bytes.Compare(a[5:], b[5:])
	case 35:
		return bytes.Compare(a, b)
	case 40:
		return cmpInt(int64(a[0]), int64(b[0]))
	case 45:
		return cmpInt(le64(a), le64(b))
	case 47:
		ua, ub := binary.LittleEndian.Uint64(a), binary.LittleEndian.Uint64(b)
		switch {
		case ua < ub:
			return -1
		case ua > ub:
			return 1
		}
		return 0
	case 50: // regex: pattern, then options
		return bytes.Compare(a, b)
	case 55:
		n := int(le32(a))
		if c := bytes.Compare(a[4:4+n-1], b[4:4+int(le32(b))-1]); c != 0 {
			return c
		}
		return bytes.Compare(a[4+n:], b[4+int(le32(b)):])
	case 65:
		return bytes.Compare(a[4:], b[4:])
	}
	return 0
}

// compareDocuments compares element by element: type bracket, key, value;
// a document that is a prefix of the other sorts first.
func compareDocuments(a, b []byte) int {
	ia, ib := newIter(a), newIter(b)
	var ea, eb elem
	for {
		na, nb := ia.next(&ea), ib.next(&eb)
		if !na || !nb {
			switch {
			case na:
				return 1
			case nb:
				return -1
			}
			return 0
		}
		if c := cmpInt(int64(typeBracket(ea.typ)), int64(typeBracket(eb.typ))); c != 0 {
			return c
		}
		if c := bytes.Compare(ea.key, eb.key); c != 0 {
			return c
		}
		if c := compareValues(ea.typ, ea.value, eb.typ, eb.value); c != 0 {
			return c
		}
	}
}

// builder appends a BSON document; nested documents are begun and ended.
type builder struct {
	b     []byte
	stack []int
}

func newBuilder(buf []byte) *builder {
	bd := &builder{b: buf[:0]}
	bd.begin()
	return bd
}

func (bd *builder) begin() {
	bd.stack = append(bd.stack, len(bd.b))
	bd.b = append(bd.b, 0, 0, 0, 0)
}

func (bd *builder) end() {
	start := bd.stack[len(bd.stack)-1]
	bd.stack = bd.stack[:len(bd.stack)-1]
	bd.b = append(bd.b, 0)
	binary.LittleEndian.PutUint32(bd.b[start:], uint32(len(bd.b)-start))
}

// finish ends the outermost document and returns it.
func (bd *builder) finish() []byte {
	for len(bd.stack) > 0 {
		bd.end()
	}
	return bd.b
}

func (bd *builder) key(t byte, k string) {
	bd.b = append(bd.b, t)
	bd.b = append(bd.b, k...)
	bd.b = append(bd.b, 0)
}

func (bd *builder) double(k string, v float64) {
	bd.key(tDouble, k)
	bd.b = binary.LittleEndian.AppendUint64(bd.b, math.Float64bits(v))
}

func (bd *builder) int32(k string, v int32) {
	bd.key(tInt32, k)
	bd.b = binary.LittleEndian.AppendUint32(bd.b, uint32(v))
}

func (bd *builder) int64(k string, v int64) {
	bd.key(tInt64, k)
	bd.b = binary.LittleEndian.AppendUint64(bd.b, uint64(v))
}

func (bd *builder) bool(k string, v bool) {
	bd.key(tBool, k)
	if v {
		bd.b = append(bd.b, 1)
	} else {
		bd.b = append(bd.b, 0)
	}
}

func (bd *builder) date(k string, ms int64) {
	bd.key(tDate, k)
	bd.b = binary.LittleEndian.AppendUint64(bd.b, uint64(ms))
}

func (bd *builder) string(k, v string) {
	bd.key(tString, k)
	bd.b = binary.LittleEndian.AppendUint32(bd.b, uint32(len(v)+1))
	bd.b = append(bd.b, v...)
	bd.b = append(bd.b, 0)
}

func (bd *builder) raw(t byte, k string, v []byte) {
	bd.key(t, k)
	bd.b = append(bd.b, v...)
}

func (bd *builder) doc(k string) {
	bd.key(tDocument, k)
	bd.begin()
}

func (bd *builder) array(k string) {
	bd.key(tArray, k)
	bd.begin()
}
