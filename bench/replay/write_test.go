package main

import (
	"bytes"
	"encoding/binary"
	"sort"
	"testing"
)

// sendSequence writes an OP_MSG of body and one kind-1 section, id, of
// docs, as libmongoc sends insert_many.
func sendSequence(t *testing.T, cl *client, body []byte, id string, docs [][]byte, flags uint32) {
	t.Helper()
	var seq []byte
	for _, d := range docs {
		seq = append(seq, d...)
	}
	section := binary.LittleEndian.AppendUint32(nil, uint32(4+len(id)+1+len(seq)))
	section = append(section, id...)
	section = append(section, 0)
	section = append(section, seq...)
	cl.reqID++
	b := binary.LittleEndian.AppendUint32(nil, uint32(msgPrefixLen+len(body)+1+len(section)))
	b = binary.LittleEndian.AppendUint32(b, uint32(cl.reqID))
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, opMsg)
	b = binary.LittleEndian.AppendUint32(b, flags)
	b = append(b, 1)
	b = append(b, section...)
	b = append(b, 0)
	b = append(b, body...)
	if _, err := cl.nc.Write(b); err != nil {
		t.Fatal(err)
	}
}

// written documents {_id: oid(i), k: i} and one without _id
func writtenDocs(from, to int) [][]byte {
	var docs [][]byte
	for i := from; i < to; i++ {
		bd := newBuilder(nil)
		bd.raw(tObjectID, "_id", oid(byte(i)).v)
		bd.int32("k", int32(i))
		docs = append(docs, bd.finish())
	}
	return docs
}

func countOf(t *testing.T, cl *client, coll string) int64 {
	t.Helper()
	body, err := cl.command(filterDoc(func(bd *builder) {
		bd.string("count", coll)
		bd.doc("query")
		bd.end()
		bd.string("$db", "d")
	}), 0)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := lookup(body, "n")
	v, _ := n.asInt64()
	return v
}

// findAll is every document of coll in _id order, with find and getMore.
func findAll(t *testing.T, port, coll string) [][]byte {
	t.Helper()
	d, docs, err := scanColl(port, coll)
	if err != nil {
		t.Fatal(err)
	}
	if d != len(docs) {
		t.Fatalf("%d documents counted, %d kept", d, len(docs))
	}
	return docs
}

func scanColl(port, coll string) (int, [][]byte, error) {
	cl, err := dial(port)
	if err != nil {
		return 0, nil, err
	}
	defer cl.nc.Close()
	var docs [][]byte
	keep := func(body []byte) int64 {
		cur, _ := lookup(body, "cursor")
		for _, k := range []string{"firstBatch", "nextBatch"} {
			if arr, ok := lookup(cur.value, k); ok {
				it := newIter(arr.value)
				var e elem
				for it.next(&e) {
					docs = append(docs, append([]byte(nil), e.value...))
				}
			}
		}
		id, _ := lookup(cur.value, "id")
		return le64(id.value)
	}
	body, err := cl.command(filterDoc(func(bd *builder) {
		bd.string("find", coll)
		bd.doc("filter")
		bd.end()
		bd.doc("sort")
		bd.int32("_id", 1)
		bd.end()
		bd.int32("batchSize", 2)
		bd.string("$db", "d")
	}), 0)
	if err != nil {
		return 0, nil, err
	}
	for id := keep(body); id != 0; {
		body, err = cl.command(filterDoc(func(bd *builder) {
			bd.int64("getMore", id)
			bd.string("collection", coll)
			bd.string("$db", "d")
		}), 0)
		if err != nil {
			return 0, nil, err
		}
		id = keep(body)
	}
	return len(docs), docs, nil
}

func TestInsertFindDrop(t *testing.T) {
	s, _ := fixture(t, mixedIDs(), 7)
	port := start(t, s)
	cl, err := dial(port)
	if err != nil {
		t.Fatal(err)
	}
	insertBody := filterDoc(func(bd *builder) {
		bd.string("insert", "w")
		bd.bool("ordered", true)
		bd.string("$db", "d")
	})
	// a document sequence, as insert_many sends it, in _id order backwards
	seq := writtenDocs(0, 5)
	rev := append([][]byte(nil), seq...)
	sort.Slice(rev, func(i, j int) bool { return i > j })
	sendSequence(t, cl, insertBody, "documents", rev, 0)
	_, body, err := cl.recv()
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := lookup(body, "n"); le32(n.value) != 5 {
		t.Fatalf("insert reply %x", body)
	}
	// documents in the body, one without _id
	noID := filterDoc(func(bd *builder) { bd.int32("k", 99) })
	body, err = cl.command(filterDoc(func(bd *builder) {
		bd.string("insert", "w")
		bd.array("documents")
		bd.raw(tDocument, "0", writtenDocs(5, 6)[0])
		bd.raw(tDocument, "1", noID)
		bd.end()
		bd.string("$db", "d")
	}), 0)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := lookup(body, "n"); le32(n.value) != 2 {
		t.Fatalf("insert reply %x", body)
	}
	// an unacknowledged insert (moreToCome): no reply, inserted all the same
	sendSequence(t, cl, insertBody, "documents", writtenDocs(6, 8), flagMoreToCome)

	if n := countOf(t, cl, "w"); n != 9 {
		t.Fatalf("count of the written collection: %d", n)
	}
	if n := countOf(t, cl, "c"); n != int64(s.count()) {
		t.Fatalf("count of another name, the file: %d", n)
	}
	got := findAll(t, port, "w")
	want := writtenDocs(0, 8)
	if len(got) != 9 {
		t.Fatalf("%d documents read back", len(got))
	}
	// in _id order: the ObjectIds 0..7 first (their times are in 1970),
	// the one made for the document without _id last, k kept after it
	for i := 0; i < 8; i++ {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("document %d: %x, want %x", i, got[i], want[i])
		}
	}
	if e, _ := firstElem(got[8]); string(e.key) != "_id" || e.typ != tObjectID {
		t.Fatalf("document without _id stored as %x", got[8])
	}
	if k, _ := lookup(got[8], "k"); le32(k.value) != 99 {
		t.Fatalf("document without _id stored as %x", got[8])
	}
	// a corrupt document: nothing of the command is inserted
	bad := append([]byte(nil), writtenDocs(8, 9)[0]...)
	bad[len(bad)-1] = 1
	sendSequence(t, cl, insertBody, "documents", [][]byte{writtenDocs(9, 10)[0], bad}, 0)
	_, body, _ = cl.recv()
	if ok, _ := lookup(body, "ok"); ok.truthy() {
		t.Fatalf("corrupt document accepted: %x", body)
	}
	if n := countOf(t, cl, "w"); n != 9 {
		t.Fatalf("count after a refused insert: %d", n)
	}

	// drop empties it, and the name serves nothing (not the file) after
	if _, err := cl.command(filterDoc(func(bd *builder) {
		bd.string("drop", "w")
		bd.string("$db", "d")
	}), 0); err != nil {
		t.Fatal(err)
	}
	if n := countOf(t, cl, "w"); n != 0 {
		t.Fatalf("count after drop: %d", n)
	}
	if got := findAll(t, port, "w"); len(got) != 0 {
		t.Fatalf("%d documents after drop", len(got))
	}
	sendSequence(t, cl, insertBody, "documents", writtenDocs(0, 3), 0)
	if _, _, err := cl.recv(); err != nil {
		t.Fatal(err)
	}
	if n := countOf(t, cl, "w"); n != 3 {
		t.Fatalf("count after drop and insert: %d", n)
	}
}
