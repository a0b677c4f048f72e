// The collection: a mongodump .bson file held in memory, its documents
// indexed in file order and in _id order.

package main

import (
	"fmt"
	"os"
	"sort"
)

// order is one order of the documents: where each one starts in data and
// prefix sums of their sizes (pre[i+1]-pre[i] is the size of the i-th).
type order struct {
	off []int64
	pre []int64
}

func (o *order) size(i int) int { return int(o.pre[i+1] - o.pre[i]) }

// bytesBetween is the size of the documents at positions [a, b).
func (o *order) bytesBetween(a, b int) int64 { return o.pre[b] - o.pre[a] }

type store struct {
	data []byte
	file order // natural order, as in the file
	byID order // sorted by _id
	// the _id of the document at each position of byID
	idType []byte
	idOff  []int64 // offset of the _id value in data
	idLen  []int32
}

func (s *store) count() int { return len(s.file.off) }

func (s *store) id(pos int) (byte, []byte) {
	off := s.idOff[pos]
	return s.idType[pos], s.data[off : off+int64(s.idLen[pos])]
}

func loadFile(path string) (*store, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return newStore(data)
}

func newStore(data []byte) (*store, error) {
	s := &store{data: data}
	var offs []int64
	type idRef struct {
		typ byte
		off int64
		n   int32
	}
	var ids []idRef
	for pos := int64(0); pos < int64(len(data)); {
		if int64(len(data))-pos < 5 {
			return nil, fmt.Errorf("truncated document at byte %d", pos)
		}
		n := int64(le32(data[pos:]))
		if n < 5 || pos+n > int64(len(data)) || data[pos+n-1] != 0 {
			return nil, fmt.Errorf("corrupt document at byte %d (length %d)", pos, n)
		}
		doc := data[pos : pos+n]
		e, ok := lookup(doc, "_id")
		if !ok {
			return nil, fmt.Errorf("document at byte %d has no _id", pos)
		}
		// e.value is a subslice of data: its offset is told by the capacities
		voff := int64(cap(data) - cap(e.value))
		offs = append(offs, pos)
		ids = append(ids, idRef{e.typ, voff, int32(len(e.value))})
		pos += n
	}
	n := len(offs)
	s.file = order{off: offs, pre: make([]int64, n+1)}
	for i, off := range offs {
		s.file.pre[i+1] = s.file.pre[i] + int64(le32(data[off:]))
	}
	cmp := func(a, b idRef) int {
		return compareValues(a.typ, data[a.off:a.off+int64(a.n)], b.typ, data[b.off:b.off+int64(b.n)])
	}
	perm := make([]int32, n)
	for i := range perm {
		perm[i] = int32(i)
	}
	sorted := true
	for i := 1; i < n; i++ {
		if cmp(ids[i-1], ids[i]) > 0 {
			sorted = false
			break
		}
	}
	if !sorted {
		sort.SliceStable(perm, func(i, j int) bool { return cmp(ids[perm[i]], ids[perm[j]]) < 0 })
	}
	if sorted {
		s.byID = s.file
	} else {
		s.byID = order{off: make([]int64, n), pre: make([]int64, n+1)}
		for i, p := range perm {
			s.byID.off[i] = offs[p]
			s.byID.pre[i+1] = s.byID.pre[i] + int64(le32(data[offs[p]:]))
		}
	}
	s.idType = make([]byte, n)
	s.idOff = make([]int64, n)
	s.idLen = make([]int32, n)
	for i, p := range perm {
		s.idType[i], s.idOff[i], s.idLen[i] = ids[p].typ, ids[p].off, ids[p].n
	}
	return s, nil
}

// lowerBound is the first position of byID whose _id is >= v (or > v when
// strict).
func (s *store) lowerBound(t byte, v []byte, strict bool) int {
	return sort.Search(s.count(), func(i int) bool {
		it, iv := s.id(i)
		c := compareValues(it, iv, t, v)
		if strict {
			return c > 0
		}
		return c >= 0
	})
}

// bracketRange is the positions of byID whose _id is in type bracket b.
func (s *store) bracketRange(b int) (int, int) {
	lo := sort.Search(s.count(), func(i int) bool { return typeBracket(s.idType[i]) >= b })
	hi := sort.Search(s.count(), func(i int) bool { return typeBracket(s.idType[i]) > b })
	return lo, hi
}

// span is the result of a filter: positions [lo, hi) of byID, or every
// document in file order when all is set.
type span struct {
	all    bool
	lo, hi int
}

// errBadValue is a filter or option the replay server does not serve.
type cmdError struct {
	code     int32
	codeName string
	msg      string
}

func (e *cmdError) Error() string { return e.msg }

func badValue(format string, args ...any) *cmdError {
	return &cmdError{2, "BadValue", "replay-server: " + fmt.Sprintf(format, args...)}
}

// filterSpan evaluates a filter: {} ; {_id: v} ; {_id: {$gte|$gt|$lt|$lte|$eq: v, ...}} ;
// {_id: {$in: [v]}} ;
// {_id: {$not: {...}}} where its complement is one run of _ids ;
// {$and: [filters]} ; several top-level conditions on _id.
func (s *store) filterSpan(filter []byte) (span, error) {
	sp := span{all: true, lo: 0, hi: s.count()}
	it := newIter(filter)
	var e elem
	for it.next(&e) {
		var sub span
		var err error
		switch string(e.key) {
		case "_id":
			sub, err = s.idCondition(e)
		case "$and":
			if e.typ != tArray {
				return sp, badValue("$and needs an array")
			}
			sub = span{lo: 0, hi: s.count()}
			ai := newIter(e.value)
			var a elem
			n := 0
			for ai.next(&a) {
				if a.typ != tDocument {
					return sp, badValue("$and needs an array of documents")
				}
				part, err := s.filterSpan(a.value)
				if err != nil {
					return sp, err
				}
				sub = intersect(sub, part)
				n++
			}
			if n == 0 {
				return sp, badValue("$and/$or/$nor must be a nonempty array")
			}
		default:
			return sp, badValue("unsupported filter on %q: only _id ranges ($gte, $gt, $lt, $lte, $eq) and $and are served", string(e.key))
		}
		if err != nil {
			return sp, err
		}
		sp = intersect(sp, sub)
	}
	if it.err != nil {
		return sp, badValue("corrupt filter")
	}
	return sp, nil
}

func intersect(a, b span) span {
	if a.all {
		return span{all: b.all, lo: b.lo, hi: b.hi}
	}
	if b.all {
		return a
	}
	r := span{lo: max(a.lo, b.lo), hi: min(a.hi, b.hi)}
	if r.hi < r.lo {
		r.hi = r.lo
	}
	return r
}

func (s *store) idCondition(e elem) (span, error) {
	if e.typ == tDocument {
		it := newIter(e.value)
		var op elem
		if it.next(&op) && len(op.key) > 0 && op.key[0] == '$' {
			sp := span{lo: 0, hi: s.count()}
			it = newIter(e.value)
			for it.next(&op) {
				sub, err := s.idOperator(string(op.key), op)
				if err != nil {
					return sp, err
				}
				sp = intersect(sp, sub)
			}
			return sp, nil
		}
	}
	if e.typ == tDocument || e.typ == tArray || e.typ == tRegex {
		return span{}, badValue("unsupported _id condition")
	}
	return s.idOperator("$eq", e)
}

func (s *store) idOperator(op string, v elem) (span, error) {
	if op == "$in" {
		// one value, as mongo_etl sends an equality ({$in: [v]}); none
		if v.typ != tArray {
			return span{}, badValue("$in needs an array")
		}
		it := newIter(v.value)
		var first, more elem
		if !it.next(&first) {
			return span{lo: 0, hi: 0}, nil
		}
		if it.next(&more) {
			return span{}, badValue("unsupported $in on _id: only one value is served")
		}
		return s.idOperator("$eq", first)
	}
	lo, hi := 0, s.count()
	if v.typ != tMinKey && v.typ != tMaxKey {
		lo, hi = s.bracketRange(typeBracket(v.typ))
	}
	switch op {
	case "$gte":
		lo = max(lo, s.lowerBound(v.typ, v.value, false))
	case "$gt":
		lo = max(lo, s.lowerBound(v.typ, v.value, true))
	case "$lt":
		hi = min(hi, s.lowerBound(v.typ, v.value, false))
	case "$lte":
		hi = min(hi, s.lowerBound(v.typ, v.value, true))
	case "$eq":
		lo = max(lo, s.lowerBound(v.typ, v.value, false))
		hi = min(hi, s.lowerBound(v.typ, v.value, true))
	case "$not":
		// the complement of a condition, served where it is one run of
		// positions (mongo_etl's parallel load asks {$not: {$gte: b}})
		if v.typ != tDocument {
			return span{}, badValue("$not needs a document")
		}
		inner, err := s.idCondition(elem{key: []byte("_id"), typ: tDocument, value: v.value})
		if err != nil {
			return span{}, err
		}
		switch {
		case inner.all:
			return span{lo: 0, hi: 0}, nil
		case inner.lo == 0:
			return span{lo: inner.hi, hi: s.count()}, nil
		case inner.hi == s.count():
			return span{lo: 0, hi: inner.lo}, nil
		}
		return span{}, badValue("unsupported $not: its complement is not one range of _id")
	default:
		return span{}, badValue("unsupported operator %s on _id", op)
	}
	if hi < lo {
		hi = lo
	}
	return span{lo: lo, hi: hi}, nil
}
