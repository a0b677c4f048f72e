package main

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand"
	"net"
	"strconv"
	"testing"
)

func TestArrayKey(t *testing.T) {
	var k arrayKey
	k.reset()
	for i := 0; i < 123457; i++ {
		want := append(append([]byte{tDocument}, strconv.Itoa(i)...), 0)
		if !bytes.Equal(k.bytes(), want) {
			t.Fatalf("key %d: %q, want %q", i, k.bytes(), want)
		}
		k.next()
	}
}

func TestBuilderAndIter(t *testing.T) {
	bd := newBuilder(nil)
	bd.int32("a", 7)
	bd.doc("d")
	bd.string("s", "héllo")
	bd.array("arr")
	bd.int64("0", -1)
	bd.double("1", 2.5)
	bd.end()
	bd.end()
	bd.bool("ok", true)
	doc := bd.finish()
	if int(le32(doc)) != len(doc) || doc[len(doc)-1] != 0 {
		t.Fatal("bad length or terminator")
	}
	d, ok := lookup(doc, "d")
	if !ok || d.typ != tDocument {
		t.Fatal("no d")
	}
	s, _ := lookup(d.value, "s")
	if v, _ := s.str(); v != "héllo" {
		t.Fatalf("s = %q", v)
	}
	arr, _ := lookup(d.value, "arr")
	it := newIter(arr.value)
	var e elem
	n := 0
	for it.next(&e) {
		n++
	}
	if n != 2 || it.err != nil {
		t.Fatalf("array of %d, %v", n, it.err)
	}
	// a truncated document is refused, not read past its end
	it = newIter(doc[:len(doc)-3])
	if it.next(&e) || it.err == nil {
		t.Fatal("truncated document read")
	}
	bad := append([]byte(nil), doc...)
	bad[4] = 0x02 // a's int32 read as a string of length 7 bytes: overruns
	binary.LittleEndian.PutUint32(bad[7:], 1000)
	it = newIter(bad)
	for it.next(&e) {
	}
	if it.err == nil {
		t.Fatal("overrunning string accepted")
	}
}

type val struct {
	t byte
	v []byte
}

func i32(n int32) val { return val{tInt32, binary.LittleEndian.AppendUint32(nil, uint32(n))} }
func i64(n int64) val { return val{tInt64, binary.LittleEndian.AppendUint64(nil, uint64(n))} }
func f64(f float64) val {
	return val{tDouble, binary.LittleEndian.AppendUint64(nil, math.Float64bits(f))}
}
func str(s string) val {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(s)+1))
	return val{tString, append(append(b, s...), 0)}
}
func oid(n byte) val { return val{tObjectID, bytes.Repeat([]byte{n}, 12)} }

func TestCompareValues(t *testing.T) {
	// in MongoDB's order
	ordered := []val{
		{tMinKey, nil}, {tNull, nil},
		f64(math.NaN()), f64(math.Inf(-1)), i64(math.MinInt64), f64(-1.5), i32(-1),
		i32(0), f64(0.5), i64(1), f64(1.0000001), i32(2), f64(9007199254740993), i64(9007199254740993),
		f64(math.Inf(1)),
		str(""), str("A"), str("a"), str("ab"), str("b"),
		oid(0), oid(1), oid(255),
		{tBool, []byte{0}}, {tBool, []byte{1}},
		{tDate, binary.LittleEndian.AppendUint64(nil, uint64(1))},
		{tMaxKey, nil},
	}
	for i := range ordered {
		for j := range ordered {
			a, b := ordered[i], ordered[j]
			c := compareValues(a.t, a.v, b.t, b.v)
			want := cmpInt(int64(i), int64(j))
			// float64(2^53+1) is 2^53: below the int64 2^53+1
			if c != want {
				t.Errorf("compare %d (%x %x) with %d (%x %x): %d, want %d", i, a.t, a.v, j, b.t, b.v, c, want)
			}
		}
	}
	// numbers of different types that are equal
	for _, p := range [][2]val{{i32(5), i64(5)}, {i32(5), f64(5)}, {i64(-3), f64(-3)}} {
		if c := compareValues(p[0].t, p[0].v, p[1].t, p[1].v); c != 0 {
			t.Errorf("%v != %v", p[0], p[1])
		}
	}
}

// fixture: documents {_id: v, n: i} in a shuffled order, as a .bson file
func fixture(t testing.TB, ids []val, seed int64) (*store, [][]byte) {
	var data []byte
	var docs [][]byte
	perm := rand.New(rand.NewSource(seed)).Perm(len(ids))
	for _, i := range perm {
		bd := newBuilder(nil)
		bd.raw(ids[i].t, "_id", ids[i].v)
		bd.int32("n", int32(i))
		d := bd.finish()
		docs = append(docs, d)
		data = append(data, d...)
	}
	s, err := newStore(data)
	if err != nil {
		t.Fatal(err)
	}
	return s, docs
}

func mixedIDs() []val {
	var ids []val
	for i := 0; i < 50; i++ {
		ids = append(ids, i32(int32(i*3)), i64(int64(i*3+1)), f64(float64(i*3)+2.5))
		ids = append(ids, str("k"+strconv.Itoa(1000+i)), oid(byte(i)))
	}
	return ids
}

func TestStoreSortsByID(t *testing.T) {
	ids := mixedIDs()
	s, _ := fixture(t, ids, 1)
	if s.count() != len(ids) {
		t.Fatalf("%d documents", s.count())
	}
	for i := 1; i < s.count(); i++ {
		at, av := s.id(i - 1)
		bt, bv := s.id(i)
		if compareValues(at, av, bt, bv) >= 0 {
			t.Fatalf("position %d out of order", i)
		}
	}
	// the byID order holds the documents whose _id it says
	for i := 0; i < s.count(); i++ {
		d := s.data[s.byID.off[i] : s.byID.off[i]+int64(s.byID.size(i))]
		e, _ := lookup(d, "_id")
		it, iv := s.id(i)
		if e.typ != it || !bytes.Equal(e.value, iv) {
			t.Fatalf("position %d: wrong document", i)
		}
	}
}

func filterDoc(build func(bd *builder)) []byte {
	bd := newBuilder(nil)
	build(bd)
	return bd.finish()
}

func TestFilterSpans(t *testing.T) {
	s, _ := fixture(t, mixedIDs(), 2)
	// 150 numbers, then 50 strings, then 50 ObjectIds
	cases := []struct {
		name   string
		filter []byte
		lo, hi int
	}{
		{"empty", filterDoc(func(bd *builder) {}), 0, 250},
		{"numbers >= 10", filterDoc(func(bd *builder) {
			bd.doc("_id")
			bd.raw(tInt32, "$gte", i32(10).v)
		}), 10, 150},
		{"numbers > 10.0 and < 20", filterDoc(func(bd *builder) {
			bd.doc("_id")
			bd.raw(tDouble, "$gt", f64(10).v)
			bd.raw(tInt64, "$lt", i64(20).v)
		}), 11, 20},
		{"<= 2.5", filterDoc(func(bd *builder) {
			bd.doc("_id")
			bd.raw(tDouble, "$lte", f64(2.5).v)
		}), 0, 3},
		{"strings from k1010", filterDoc(func(bd *builder) {
			bd.doc("_id")
			bd.raw(tString, "$gte", str("k1010").v)
		}), 160, 200},
		{"ObjectIds below 5", filterDoc(func(bd *builder) {
			bd.doc("_id")
			bd.raw(tObjectID, "$lt", oid(5).v)
		}), 200, 205},
		{"equality", filterDoc(func(bd *builder) {
			bd.raw(tInt64, "_id", i64(7).v)
		}), 7, 8},
		{"$eq 7.0", filterDoc(func(bd *builder) {
			bd.doc("_id")
			bd.raw(tDouble, "$eq", f64(7).v)
		}), 7, 8},
		{"$in [7]", filterDoc(func(bd *builder) {
			bd.doc("_id")
			bd.array("$in")
			bd.raw(tInt32, "0", i32(7).v)
		}), 7, 8},
		{"$in []", filterDoc(func(bd *builder) {
			bd.doc("_id")
			bd.array("$in")
		}), 0, 0},
		{"$and", filterDoc(func(bd *builder) {
			bd.array("$and")
			bd.doc("0")
			bd.doc("_id")
			bd.raw(tInt32, "$gte", i32(30).v)
			bd.end()
			bd.end()
			bd.doc("1")
			bd.doc("_id")
			bd.raw(tInt32, "$lt", i32(40).v)
		}), 30, 40},
		{"MinKey to MaxKey", filterDoc(func(bd *builder) {
			bd.doc("_id")
			bd.raw(tMinKey, "$gt", nil)
			bd.raw(tMaxKey, "$lt", nil)
		}), 0, 250},
		{"not ObjectIds from 5: everything below", filterDoc(func(bd *builder) {
			bd.doc("_id")
			bd.doc("$not")
			bd.raw(tObjectID, "$gte", oid(5).v)
		}), 0, 205},
		{"not numbers below 10: everything above", filterDoc(func(bd *builder) {
			bd.doc("_id")
			bd.doc("$not")
			bd.raw(tInt32, "$lt", i32(10).v)
		}), 10, 250},
		{"empty range", filterDoc(func(bd *builder) {
			bd.doc("_id")
			bd.raw(tInt32, "$gte", i32(40).v)
			bd.raw(tInt32, "$lt", i32(30).v)
		}), 30, 30},
	}
	for _, c := range cases {
		sp, err := s.filterSpan(c.filter)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if sp.hi-sp.lo != c.hi-c.lo || (c.hi > c.lo && sp.lo != c.lo) {
			t.Errorf("%s: [%d, %d), want [%d, %d)", c.name, sp.lo, sp.hi, c.lo, c.hi)
		}
	}
	for _, f := range [][]byte{
		filterDoc(func(bd *builder) { bd.string("name", "x") }),
		// $in of more than one value
		filterDoc(func(bd *builder) {
			bd.doc("_id")
			bd.array("$in")
			bd.raw(tInt32, "0", i32(3).v)
			bd.raw(tInt32, "1", i32(6).v)
		}),
		// the numbers from 10 up are the middle of the _ids: their
		// complement is two runs
		filterDoc(func(bd *builder) {
			bd.doc("_id")
			bd.doc("$not")
			bd.raw(tInt32, "$gte", i32(10).v)
		}),
	} {
		if _, err := s.filterSpan(f); err == nil {
			t.Errorf("filter %x accepted", f)
		} else if ce, ok := err.(*cmdError); !ok || ce.code != 2 {
			t.Errorf("filter refused with %v", err)
		}
	}
}

// start serves s on a loopback port.
func start(t testing.TB, s *store) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go newServer(s).serve(l)
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

func TestParseMsg(t *testing.T) {
	body := filterDoc(func(bd *builder) {
		bd.int32("ping", 1)
		bd.string("$db", "x")
	})
	seq := append(binary.LittleEndian.AppendUint32(nil, uint32(4+len("documents")+1+len(body))), "documents\x00"...)
	seq = append(seq, body...)
	msg := binary.LittleEndian.AppendUint32(nil, flagChecksumPresent)
	msg = append(msg, 1)
	msg = append(msg, seq...)
	msg = append(msg, 0)
	msg = append(msg, body...)
	msg = append(msg, 1, 2, 3, 4) // checksum
	var req request
	if err := parseMsg(msg, &req); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(req.body, body) || req.db != "x" {
		t.Fatalf("body %x db %q", req.body, req.db)
	}
	if err := parseMsg(msg[:len(msg)-9], &req); err == nil {
		t.Fatal("truncated message accepted")
	}
}

// readAll reads the collection over a connection with find and getMore
// (exhaust or not) and returns the documents.
func readAll(t *testing.T, port string, filter []byte, batch int32, exhaust bool) [][]byte {
	cl, err := dial(port)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.nc.Close()
	var docs [][]byte
	collect := func(body []byte) int64 {
		cur, ok := lookup(body, "cursor")
		if !ok {
			t.Fatalf("no cursor: %x", body)
		}
		id, _ := lookup(cur.value, "id")
		for _, k := range []string{"firstBatch", "nextBatch"} {
			if arr, ok := lookup(cur.value, k); ok {
				it := newIter(arr.value)
				var e elem
				n := 0
				for it.next(&e) {
					if string(e.key) != strconv.Itoa(n) || e.typ != tDocument {
						t.Fatalf("array element %q", e.key)
					}
					docs = append(docs, append([]byte(nil), e.value...))
					n++
				}
			}
		}
		return le64(id.value)
	}
	body, err := cl.command(filterDoc(func(bd *builder) {
		bd.string("find", "c")
		bd.raw(tDocument, "filter", filter)
		bd.doc("sort")
		bd.int32("_id", 1)
		bd.end()
		bd.int32("batchSize", batch)
		bd.doc("lsid")
		bd.end()
		bd.string("$db", "d")
	}), 0)
	if err != nil {
		t.Fatal(err)
	}
	id := collect(body)
	replies := 0
	for id != 0 {
		flags := uint32(0)
		if exhaust {
			flags = flagExhaustAllowed
		}
		cl.send(filterDoc(func(bd *builder) {
			bd.int64("getMore", id)
			bd.string("collection", "c")
			bd.int32("batchSize", batch)
			bd.string("$db", "d")
		}), flags)
		for {
			rflags, body, err := cl.recv()
			if err != nil {
				t.Fatal(err)
			}
			replies++
			id = collect(body)
			if (rflags&flagMoreToCome != 0) != (exhaust && id != 0) {
				t.Fatalf("moreToCome %v with cursor %d", rflags&flagMoreToCome != 0, id)
			}
			if rflags&flagMoreToCome == 0 {
				break
			}
		}
		if !exhaust && id != 0 {
			continue
		}
	}
	return docs
}

func TestFindGetMoreExhaust(t *testing.T) {
	ids := mixedIDs()
	s, _ := fixture(t, ids, 3)
	port := start(t, s)
	var sorted [][]byte
	for i := 0; i < s.count(); i++ {
		sorted = append(sorted, s.data[s.byID.off[i]:s.byID.off[i]+int64(s.byID.size(i))])
	}
	empty := filterDoc(func(bd *builder) {})
	for _, batch := range []int32{0, 1, 7, 101, 1000} {
		for _, exhaust := range []bool{false, true} {
			got := readAll(t, port, empty, batch, exhaust)
			if len(got) != len(sorted) {
				t.Fatalf("batch %d exhaust %v: %d documents", batch, exhaust, len(got))
			}
			for i := range got {
				if !bytes.Equal(got[i], sorted[i]) {
					t.Fatalf("batch %d exhaust %v: document %d differs", batch, exhaust, i)
				}
			}
		}
	}
	rng := filterDoc(func(bd *builder) {
		bd.doc("_id")
		bd.raw(tString, "$gt", str("k1000").v)
		bd.raw(tObjectID, "$lte", oid(9).v) // another bracket: nothing
	})
	if got := readAll(t, port, rng, 10, true); len(got) != 0 {
		t.Fatalf("%d documents from a range across brackets", len(got))
	}
}

func TestRefusals(t *testing.T) {
	s, _ := fixture(t, mixedIDs(), 4)
	port := start(t, s)
	cl, err := dial(port)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cmd  []byte
		code int32
	}{
		{filterDoc(func(bd *builder) { bd.string("update", "c"); bd.string("$db", "d") }), 59},
		{filterDoc(func(bd *builder) { bd.string("insert", "c"); bd.int32("upsert", 1); bd.string("$db", "d") }), 2},
		{filterDoc(func(bd *builder) {
			bd.string("find", "c")
			bd.doc("filter")
			bd.int32("n", 1)
			bd.end()
			bd.string("$db", "d")
		}), 2},
		{filterDoc(func(bd *builder) {
			bd.string("aggregate", "c")
			bd.array("pipeline")
			bd.doc("0")
			bd.doc("$group")
			bd.end()
			bd.end()
			bd.end()
			bd.doc("cursor")
			bd.end()
			bd.string("$db", "d")
		}), 2},
		{filterDoc(func(bd *builder) { bd.int64("getMore", 12345); bd.string("collection", "c"); bd.string("$db", "d") }), 43},
	} {
		_, body, err := func() (uint32, []byte, error) { cl.send(c.cmd, 0); return cl.recv() }()
		if err != nil {
			t.Fatal(err)
		}
		ok, _ := lookup(body, "ok")
		code, _ := lookup(body, "code")
		n, _ := code.asInt64()
		if ok.truthy() || int32(n) != c.code {
			t.Errorf("reply %x, want code %d", body, c.code)
		}
	}
}

func TestCountAndAggregate(t *testing.T) {
	s, _ := fixture(t, mixedIDs(), 5)
	port := start(t, s)
	cl, err := dial(port)
	if err != nil {
		t.Fatal(err)
	}
	body, err := cl.command(filterDoc(func(bd *builder) {
		bd.string("count", "c")
		bd.doc("query")
		bd.doc("_id")
		bd.raw(tString, "$gte", str("k").v)
		bd.end()
		bd.end()
		bd.string("$db", "d")
	}), 0)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := lookup(body, "n"); le32(n.value) != 50 {
		t.Fatalf("count: %x", body)
	}
	for _, c := range []struct {
		stage func(bd *builder)
		key   string
		want  int64
	}{
		{func(bd *builder) { bd.doc("$collStats"); bd.doc("count"); bd.end(); bd.end() }, "count", 250},
		{func(bd *builder) {
			bd.doc("$match")
			bd.doc("_id")
			bd.raw(tObjectID, "$gte", oid(10).v)
			bd.end()
			bd.end()
			bd.end()
			bd.doc("1")
			bd.string("$count", "total")
		}, "total", 40},
	} {
		body, err := cl.command(filterDoc(func(bd *builder) {
			bd.string("aggregate", "c")
			bd.array("pipeline")
			bd.doc("0")
			c.stage(bd)
			bd.end()
			bd.end()
			bd.doc("cursor")
			bd.end()
			bd.string("$db", "d")
		}), 0)
		if err != nil {
			t.Fatal(err)
		}
		cur, _ := lookup(body, "cursor")
		fb, _ := lookup(cur.value, "firstBatch")
		d, _ := firstElem(fb.value)
		v, ok := lookup(d.value, c.key)
		n, _ := v.asInt64()
		if !ok || n != c.want {
			t.Errorf("aggregate: %x", body)
		}
	}
}

func TestGroup(t *testing.T) {
	s, _ := fixture(t, mixedIDs(), 6)
	port := start(t, s)
	cl, err := dial(port)
	if err != nil {
		t.Fatal(err)
	}
	// the groups of $group by path, after an optional $match on _id
	groups := func(path string, match bool) map[string]int64 {
		body, err := cl.command(filterDoc(func(bd *builder) {
			bd.string("aggregate", "c")
			bd.array("pipeline")
			n := 0
			if match {
				bd.doc("0")
				bd.doc("$match")
				bd.doc("_id")
				bd.raw(tObjectID, "$gte", oid(10).v)
				bd.end()
				bd.end()
				bd.end()
				n++
			}
			bd.doc(strconv.Itoa(n))
			bd.doc("$group")
			bd.string("_id", path)
			bd.doc("count")
			bd.int32("$sum", 1)
			bd.end()
			bd.end()
			bd.end()
			bd.end()
			bd.doc("cursor")
			bd.int32("batchSize", 1000)
			bd.end()
			bd.string("$db", "d")
		}), 0)
		if err != nil {
			t.Fatal(err)
		}
		cur, _ := lookup(body, "cursor")
		fb, _ := lookup(cur.value, "firstBatch")
		found := map[string]int64{}
		it := newIter(fb.value)
		var d elem
		for it.next(&d) {
			key, _ := lookup(d.value, "_id")
			count, _ := lookup(d.value, "count")
			n, _ := count.asInt64()
			found[string(append([]byte{key.typ}, key.value...))] = n
		}
		return found
	}
	// a missing field: every document in the null group
	if g := groups("$nothing", false); len(g) != 1 || g[string([]byte{tNull})] != 250 {
		t.Errorf("$group by a missing field: %v", g)
	}
	// a field of distinct values: a group each, of the documents matched
	g := groups("$n", true)
	total := int64(0)
	for _, n := range g {
		total += n
	}
	if len(g) != 40 || total != 40 {
		t.Errorf("$group by n after $match: %d groups of %d documents", len(g), total)
	}
}

// BenchmarkServe reads a collection of 409-byte documents from a server
// in the same process; b.N documents.
func BenchmarkServe(b *testing.B) {
	doc := make([]byte, 409)
	binary.LittleEndian.PutUint32(doc, 409)
	var data []byte
	for i := 0; i < 100000; i++ {
		bd := newBuilder(nil)
		bd.raw(tInt32, "_id", i32(int32(i)).v)
		bd.string("pad", string(bytes.Repeat([]byte{'x'}, 409-4-9-1-4-2-1-4-1)))
		data = append(data, bd.finish()...)
	}
	s, err := newStore(data)
	if err != nil {
		b.Fatal(err)
	}
	port := start(b, s)
	b.SetBytes(409)
	b.ResetTimer()
	for done := 0; done < b.N; {
		d, _, err := scan(port, nil, nil, 10000, true)
		if err != nil {
			b.Fatal(err)
		}
		done += d
	}
}
