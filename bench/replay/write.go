// Writes, for the write benchmark: the insert command keeps its documents
// in memory in the collection it names, and drop empties a collection.  A
// collection once written to (or dropped) is served under its name instead
// of the file, by every read (find, getMore, count, aggregate, legacy
// find); every other name still serves the file.

package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

// written is a collection held in memory: its documents one after the
// other, as inserted, and the store that serves them to reads, built on
// the first read after a write.
type written struct {
	mu   sync.Mutex
	data []byte
	n    int
	snap *store
}

// collection is the written collection ns, made (empty) when create is set;
// nil when ns was never written to and create is not set.
func (sv *server) collection(ns string, create bool) *written {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	w := sv.written[ns]
	if w == nil && create {
		w = &written{}
		sv.written[ns] = w
	}
	return w
}

// storeFor is the store that serves reads of ns: the written collection's
// documents as they are now, or the file.
func (sv *server) storeFor(ns string) *store {
	w := sv.collection(ns, false)
	if w == nil {
		return sv.store
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.snap == nil {
		// every document was checked when inserted: this cannot fail; a
		// copy, which later inserts do not touch
		s, err := newStore(bytes.Clone(w.data))
		if err != nil {
			panic(err)
		}
		w.snap = s
	}
	return w.snap
}

// objectIDCounter makes the ObjectIds of documents inserted without _id
// unique in this process.
var objectIDCounter struct {
	sync.Mutex
	n    uint32
	rand [5]byte
	once sync.Once
}

// newObjectID is an ObjectId as MongoDB makes one: seconds, 5 random
// bytes chosen once per process, a counter.
func newObjectID() []byte {
	c := &objectIDCounter
	c.once.Do(func() { _, _ = rand.Read(c.rand[:]) })
	c.Lock()
	c.n++
	n := c.n
	c.Unlock()
	id := binary.BigEndian.AppendUint32(nil, uint32(time.Now().Unix()))
	id = append(id, c.rand[:]...)
	return append(id, byte(n>>16), byte(n>>8), byte(n))
}

// withID is doc with an ObjectId _id first, as MongoDB stores a document
// inserted without one.
func withID(doc []byte) []byte {
	out := binary.LittleEndian.AppendUint32(nil, 0)
	out = append(out, tObjectID)
	out = append(out, "_id\x00"...)
	out = append(out, newObjectID()...)
	out = append(out, doc[4:]...)
	binary.LittleEndian.PutUint32(out, uint32(len(out)))
	return out
}

// insertDocuments checks the documents of an insert (one after the other
// in docs; every element of an array in array) and appends them to w.  A
// document that is not one (its length, its terminator, its elements up
// to _id, where the check stops: the documents are only kept)
// refuses the whole command: nothing is inserted.
func (w *written) insertDocuments(seq []byte, array []byte) (int, error) {
	seqAll := seq
	var docs [][]byte
	for len(seq) > 0 {
		if len(seq) < 5 {
			return 0, badValue("insert: truncated document")
		}
		n := int(le32(seq))
		if n < 5 || n > len(seq) || n > maxBSONSize || seq[n-1] != 0 {
			return 0, badValue("insert: corrupt document (length %d)", n)
		}
		docs = append(docs, seq[:n])
		seq = seq[n:]
	}
	if array != nil {
		it := newIter(array)
		var e elem
		for it.next(&e) {
			if e.typ != tDocument {
				return 0, badValue("insert: documents must be documents")
			}
			docs = append(docs, e.value)
		}
		if it.err != nil {
			return 0, badValue("insert: corrupt documents array")
		}
	}
	whole := array == nil // every document as it came: seq kept in one piece
	for i, d := range docs {
		it := newIter(d)
		var e elem
		hasID := false
		for !hasID && it.next(&e) {
			hasID = string(e.key) == "_id"
		}
		if it.err != nil {
			return 0, badValue("insert: corrupt document %d", i)
		}
		if !hasID {
			docs[i] = withID(d)
			whole = false
		}
	}
	w.mu.Lock()
	if whole {
		w.data = append(w.data, seqAll...)
	} else {
		for _, d := range docs {
			w.data = append(w.data, d...)
		}
	}
	w.n += len(docs)
	w.snap = nil
	w.mu.Unlock()
	return len(docs), nil
}

// insert applies an insert command: {insert: coll, documents: [...]} or
// the documents in a kind-1 section named "documents" (as drivers send
// insert_many), appended to the collection whatever their _id (a duplicate
// _id is not refused).  ordered, writeConcern and bypassDocumentValidation
// change nothing.  It returns the documents inserted.
func (sv *server) insert(req *request) (int, error) {
	coll := ""
	var array []byte
	it := newIter(req.body)
	var e elem
	for it.next(&e) {
		switch k := string(e.key); k {
		case "insert":
			coll, _ = e.str()
		case "documents":
			if e.typ != tArray {
				return 0, badValue("insert: documents must be an array")
			}
			array = e.value
		case "ordered", "bypassDocumentValidation":
		default:
			if !generic[k] {
				return 0, badValue("unsupported insert option %q", k)
			}
		}
	}
	if coll == "" {
		return 0, badValue("insert needs a collection name")
	}
	return sv.collection(req.db+"."+coll, true).insertDocuments(req.seqs["documents"], array)
}

func (c *conn) insert(req *request) error {
	n, err := c.sv.insert(req)
	if err != nil {
		return err
	}
	bd := c.begin(req, 64)
	bd.int32("n", int32(n))
	bd.double("ok", 1)
	_, err = c.send(req, bd, req.reqID, 0)
	return err
}

// drop empties a collection: {drop: coll}.  The name then serves no
// document (not the file) until an insert.
func (c *conn) drop(req *request) error {
	e, _ := firstElem(req.body)
	coll, ok := e.str()
	if !ok || coll == "" {
		return badValue("drop needs a collection name")
	}
	ns := req.db + "." + coll
	w := c.sv.collection(ns, true)
	w.mu.Lock()
	w.data, w.n, w.snap = nil, 0, nil
	w.mu.Unlock()
	bd := c.begin(req, 64+len(ns))
	bd.int32("nIndexesWas", 1)
	bd.string("ns", ns)
	bd.double("ok", 1)
	_, err := c.send(req, bd, req.reqID, 0)
	return err
}
