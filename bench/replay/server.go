// The wire protocol: OP_MSG (and OP_QUERY/OP_REPLY for the legacy first
// handshake), the commands a benchmark's client sends, cursors.

package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	opReply       = 1
	opQuery       = 2004
	opGetMore     = 2005
	opKillCursors = 2007
	opCompressed  = 2012
	opMsg         = 2013

	flagChecksumPresent = 1 << 0
	flagMoreToCome      = 1 << 1
	flagExhaustAllowed  = 1 << 16

	maxBSONSize    = 16 * 1024 * 1024
	maxMessageSize = 48000000
	// documents in one reply at most: a batch stops before it would pass
	// this many bytes of documents (MongoDB's limit is 16 MiB too)
	maxBatchBytes   = maxBSONSize
	defaultFirst    = 101
	maxWireVersion  = 17
	headerLen       = 16
	msgPrefixLen    = headerLen + 4 + 1 // header, flagBits, section kind 0
	replyPrefixLen  = headerLen + 20    // header, flags, cursorID, startingFrom, numberReturned
	versionString   = "6.0.0-replay"
	sessionsTimeout = 30
)

type server struct {
	store     *store
	nextReq   atomic.Int32
	nextConn  atomic.Int64
	mu        sync.Mutex
	cursors   map[int64]*cursor
	nextCurID int64
	// collections written to (insert, drop), by namespace: served instead
	// of the file under their names (write.go)
	written map[string]*written
}

func newServer(s *store) *server {
	return &server{store: s, cursors: map[int64]*cursor{},
		nextCurID: time.Now().UnixNano()&0x0000FFFFFFFFFFFF | 1<<48,
		written:   map[string]*written{}}
}

// cursor walks positions of an order: pos is the next one, step +1 or -1,
// left how many documents remain.
type cursor struct {
	id    int64
	ns    string
	st    *store // the documents ord orders
	ord   *order
	pos   int
	desc  bool
	left  int
	fixed [][]byte // computed results ($count, $collStats) instead of ord
}

func (sv *server) register(c *cursor) {
	sv.mu.Lock()
	sv.nextCurID++
	c.id = sv.nextCurID
	sv.cursors[c.id] = c
	sv.mu.Unlock()
}

// take removes a cursor while a getMore uses it.
func (sv *server) take(id int64) *cursor {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	c := sv.cursors[id]
	delete(sv.cursors, id)
	return c
}

func (sv *server) put(c *cursor) {
	sv.mu.Lock()
	sv.cursors[c.id] = c
	sv.mu.Unlock()
}

func (sv *server) serve(l net.Listener) error {
	for {
		nc, err := l.Accept()
		if err != nil {
			return err
		}
		c := &conn{sv: sv, nc: nc, id: sv.nextConn.Add(1)}
		go c.run()
	}
}

type conn struct {
	sv  *server
	nc  net.Conn
	id  int64
	in  []byte
	out []byte
}

// request is one command as received.
type request struct {
	reqID  int32
	flags  uint32
	legacy bool // OP_QUERY: reply with OP_REPLY
	// a legacy OP_QUERY find (not on $cmd) or OP_GET_MORE
	ns       string
	qflags   uint32
	skip     int32
	toReturn int32
	cursorID int64
	db       string // from $db or the OP_QUERY namespace
	body     []byte
	command  string
	// OP_MSG kind-1 sections: document sequences by identifier, each the
	// documents one after the other (insert's "documents")
	seqs map[string][]byte
}

func (c *conn) run() {
	defer c.nc.Close()
	r := bufio.NewReaderSize(c.nc, 64*1024)
	var hdr [headerLen]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := int(le32(hdr[0:]))
		if n < headerLen || n > maxMessageSize {
			return
		}
		if cap(c.in) < n-headerLen {
			c.in = make([]byte, n-headerLen)
		}
		msg := c.in[:n-headerLen]
		if _, err := io.ReadFull(r, msg); err != nil {
			return
		}
		req := request{reqID: le32(hdr[4:])}
		var err error
		switch le32(hdr[12:]) {
		case opMsg:
			err = parseMsg(msg, &req)
		case opQuery:
			err = parseQuery(msg, &req)
		case opGetMore:
			if err = parseGetMore(msg, &req); err == nil {
				err = c.legacyGetMore(&req)
			}
			if err != nil {
				return
			}
			continue
		case opKillCursors:
			c.legacyKillCursors(msg)
			continue
		default:
			return // OP_COMPRESSED and the rest: never advertised
		}
		if err != nil {
			return
		}
		if err := c.handle(&req); err != nil {
			return
		}
	}
}

func parseMsg(msg []byte, req *request) error {
	if len(msg) < 5 {
		return errCorrupt
	}
	req.flags = binary.LittleEndian.Uint32(msg)
	msg = msg[4:]
	if req.flags&flagChecksumPresent != 0 {
		if len(msg) < 4 {
			return errCorrupt
		}
		msg = msg[:len(msg)-4]
	}
	for len(msg) > 0 {
		kind := msg[0]
		msg = msg[1:]
		if len(msg) < 4 {
			return errCorrupt
		}
		n := int(le32(msg))
		if n < 5 || n > len(msg) {
			return errCorrupt
		}
		switch kind {
		case 0:
			req.body = msg[:n]
		case 1: // a document sequence: size, identifier, documents
			i := cstrlen(msg[4:n])
			if i < 0 {
				return errCorrupt
			}
			if req.seqs == nil {
				req.seqs = map[string][]byte{}
			}
			req.seqs[string(msg[4:4+i])] = msg[4+i+1 : n]
		default:
			return errCorrupt
		}
		msg = msg[n:]
	}
	if req.body == nil {
		return errCorrupt
	}
	if e, ok := lookup(req.body, "$db"); ok {
		req.db, _ = e.str()
	}
	return nil
}

func parseQuery(msg []byte, req *request) error {
	if len(msg) < 4 {
		return errCorrupt
	}
	req.legacy = true
	req.qflags = binary.LittleEndian.Uint32(msg)
	msg = msg[4:]
	i := cstrlen(msg)
	if i < 0 || len(msg) < i+1+8+5 {
		return errCorrupt
	}
	ns := string(msg[:i])
	req.skip, req.toReturn = le32(msg[i+1:]), le32(msg[i+5:])
	msg = msg[i+1+8:]
	n := int(le32(msg))
	if n < 5 || n > len(msg) {
		return errCorrupt
	}
	req.body = msg[:n]
	if !strings.HasSuffix(ns, ".$cmd") {
		req.ns = ns // a legacy find
		return nil
	}
	req.db = strings.TrimSuffix(ns, ".$cmd")
	// {$query: {...}, $readPreference: ...} wraps the command
	if e, ok := lookup(req.body, "$query"); ok && e.typ == tDocument {
		req.body = e.value
	} else if e, ok := lookup(req.body, "query"); ok && e.typ == tDocument {
		if first, ok := firstElem(req.body); ok && string(first.key) == "query" {
			req.body = e.value
		}
	}
	return nil
}

func firstElem(doc []byte) (elem, bool) {
	it := newIter(doc)
	var e elem
	ok := it.next(&e)
	return e, ok
}

// begin starts a reply body in c.out after room for the message prefix.
func (c *conn) begin(req *request, capacity int) *builder {
	prefix := msgPrefixLen
	if req.legacy {
		prefix = replyPrefixLen
	}
	if cap(c.out) < prefix+capacity {
		c.out = make([]byte, 0, prefix+capacity+capacity/8)
	}
	bd := &builder{b: c.out[:prefix]}
	bd.begin()
	return bd
}

// send frames the body bd holds and writes it with one system call.
// It returns the reply's request id.
func (c *conn) send(req *request, bd *builder, responseTo int32, flags uint32) (int32, error) {
	b := bd.finish()
	c.out = b[:0]
	id := c.sv.nextReq.Add(1)
	binary.LittleEndian.PutUint32(b[0:], uint32(len(b)))
	binary.LittleEndian.PutUint32(b[4:], uint32(id))
	binary.LittleEndian.PutUint32(b[8:], uint32(responseTo))
	if req.legacy {
		binary.LittleEndian.PutUint32(b[12:], opReply)
		binary.LittleEndian.PutUint32(b[16:], 0) // responseFlags
		binary.LittleEndian.PutUint64(b[20:], 0) // cursorID
		binary.LittleEndian.PutUint32(b[28:], 0) // startingFrom
		binary.LittleEndian.PutUint32(b[32:], 1) // numberReturned
	} else {
		binary.LittleEndian.PutUint32(b[12:], opMsg)
		binary.LittleEndian.PutUint32(b[16:], flags)
		b[20] = 0
	}
	_, err := c.nc.Write(b)
	return id, err
}

func (c *conn) handle(req *request) error {
	if !req.legacy && req.flags&flagMoreToCome != 0 {
		// the client wants no reply (unacknowledged): only a write has
		// anything to do
		if first, ok := firstElem(req.body); ok && string(first.key) == "insert" {
			_, _ = c.sv.insert(req)
		}
		return nil
	}
	if req.ns != "" {
		return c.legacyFind(req)
	}
	first, ok := firstElem(req.body)
	if !ok {
		return c.sendError(req, 59, "CommandNotFound", "no command given")
	}
	req.command = string(first.key)
	var err error
	switch req.command {
	case "hello", "isMaster", "ismaster":
		err = c.hello(req)
	case "ping", "endSessions":
		bd := c.begin(req, 64)
		bd.double("ok", 1)
		_, err = c.send(req, bd, req.reqID, 0)
	case "buildInfo", "buildinfo":
		bd := c.begin(req, 256)
		bd.string("version", versionString)
		bd.array("versionArray")
		for i, v := range []int32{6, 0, 0, 0} {
			bd.int32(strconv.Itoa(i), v)
		}
		bd.end()
		bd.string("gitVersion", "replay")
		bd.int32("bits", 64)
		bd.int32("maxBsonObjectSize", maxBSONSize)
		bd.double("ok", 1)
		_, err = c.send(req, bd, req.reqID, 0)
	case "find":
		err = c.find(req)
	case "getMore":
		err = c.getMore(req)
	case "killCursors":
		err = c.killCursors(req)
	case "count":
		err = c.count(req)
	case "aggregate":
		err = c.aggregate(req)
	case "listCollections":
		err = c.listCollections(req)
	case "insert":
		err = c.insert(req)
	case "drop":
		err = c.drop(req)
	default:
		return c.sendError(req, 59, "CommandNotFound",
			fmt.Sprintf("no such command: '%s' (replay-server serves hello, ping, buildInfo, find, getMore, killCursors, endSessions, count, aggregate, listCollections, insert, drop)", req.command))
	}
	var ce *cmdError
	if errors.As(err, &ce) {
		return c.sendError(req, ce.code, ce.codeName, ce.msg)
	}
	return err
}

func (c *conn) sendError(req *request, code int32, codeName, msg string) error {
	bd := c.begin(req, 128+len(msg))
	bd.double("ok", 0)
	bd.string("errmsg", msg)
	bd.int32("code", code)
	bd.string("codeName", codeName)
	_, err := c.send(req, bd, req.reqID, 0)
	return err
}

func (c *conn) hello(req *request) error {
	bd := c.begin(req, 512)
	if e, ok := lookup(req.body, "helloOk"); ok && e.truthy() {
		bd.bool("helloOk", true)
	}
	if req.command == "hello" {
		bd.bool("isWritablePrimary", true)
	} else {
		bd.bool("ismaster", true)
	}
	bd.int32("maxBsonObjectSize", maxBSONSize)
	bd.int32("maxMessageSizeBytes", maxMessageSize)
	bd.int32("maxWriteBatchSize", 100000)
	bd.date("localTime", time.Now().UnixMilli())
	bd.int32("logicalSessionTimeoutMinutes", sessionsTimeout)
	bd.int32("connectionId", int32(c.id))
	bd.int32("minWireVersion", 0)
	bd.int32("maxWireVersion", maxWireVersion)
	bd.bool("readOnly", false)
	bd.double("ok", 1)
	_, err := c.send(req, bd, req.reqID, 0)
	return err
}

// fields every command may carry that change nothing here
var generic = map[string]bool{
	"$db": true, "lsid": true, "$readPreference": true, "$clusterTime": true,
	"readConcern": true, "maxTimeMS": true, "comment": true, "apiVersion": true,
	"apiStrict": true, "apiDeprecationErrors": true, "txnNumber": true,
	"autocommit": true, "startTransaction": true, "writeConcern": true,
	"$queryOptions": true, "hint": true, "allowDiskUse": true,
	"noCursorTimeout": true, "allowPartialResults": true, "maxAwaitTimeMS": true,
}

func intArg(e elem, name string) (int64, error) {
	if !e.isNumber() || e.typ == tDecimal128 {
		return 0, badValue("%s must be a number", name)
	}
	n, ok := e.asInt64()
	if !ok {
		return 0, badValue("%s is out of range", name)
	}
	return n, nil
}

// sortArg reads {_id: ±1} or {$natural: ±1} ({} is no sort).
func sortArg(e elem) (key string, desc bool, err error) {
	if e.typ != tDocument {
		return "", false, badValue("sort must be a document")
	}
	it := newIter(e.value)
	var f elem
	n := 0
	for it.next(&f) {
		n++
		d, err := intArg(f, "sort direction")
		if err != nil || (d != 1 && d != -1) || n > 1 ||
			(string(f.key) != "_id" && string(f.key) != "$natural") {
			return "", false, badValue("unsupported sort: only {_id: 1} and {_id: -1} are served")
		}
		key, desc = string(f.key), d < 0
	}
	return key, desc, nil
}

// plan is what a find or an aggregate asks for.
type plan struct {
	filter    []byte
	sortKey   string
	desc      bool
	skip      int64
	limit     int64 // 0: none
	count     string
	collStats bool
	groupBy   string   // $group: the key's field path ("" for none)
	groupSums []string // and the fields that count documents ({$sum: 1})
}

// open makes the cursor of a plan.
func (c *conn) open(p *plan, ns string) (*cursor, error) {
	s := c.sv.storeFor(ns)
	sp := span{all: true, lo: 0, hi: s.count()}
	if p.filter != nil {
		var err error
		if sp, err = s.filterSpan(p.filter); err != nil {
			return nil, err
		}
	}
	cur := &cursor{ns: ns, st: s}
	switch {
	case p.sortKey == "$natural" && !sp.all:
		return nil, badValue("$natural sort with a filter is not served")
	case p.sortKey == "_id" || !sp.all:
		cur.ord = &s.byID
	default:
		cur.ord = &s.file
	}
	n := int64(sp.hi - sp.lo)
	skip := min(p.skip, n)
	n -= skip
	if p.limit > 0 {
		n = min(n, p.limit)
	}
	cur.desc = p.desc
	cur.left = int(n)
	if p.desc {
		cur.pos = sp.hi - 1 - int(skip)
	} else {
		cur.pos = sp.lo + int(skip)
	}
	switch {
	case p.collStats:
		bd := newBuilder(nil)
		bd.string("ns", ns)
		bd.string("host", "127.0.0.1")
		bd.date("localTime", time.Now().UnixMilli())
		bd.int64("count", int64(s.count()))
		cur.fixed = [][]byte{bd.finish()}
		cur.left = 1
	case p.groupBy != "":
		cur.fixed = s.group(cur, p)
		cur.left = len(cur.fixed)
	case p.count != "":
		cur.fixed = nil
		if n > 0 {
			bd := newBuilder(nil)
			if n <= 1<<31-1 {
				bd.int32(p.count, int32(n))
			} else {
				bd.int64(p.count, n)
			}
			cur.fixed = [][]byte{bd.finish()}
		}
		cur.left = len(cur.fixed)
	}
	return cur, nil
}

// listCollections answers that the collection asked for ({filter: {name:
// ...}}), which is the file under any name, is a plain collection with no
// options (no default collation); without a name, one called "documents".
func (c *conn) listCollections(req *request) error {
	name := "documents"
	if f, ok := lookup(req.body, "filter"); ok && f.typ == tDocument {
		if n, ok := lookup(f.value, "name"); ok {
			if s, ok := n.str(); ok {
				name = s
			}
		}
	}
	bd := newBuilder(nil)
	bd.string("name", name)
	bd.string("type", "collection")
	bd.doc("options")
	bd.end()
	bd.doc("info")
	bd.bool("readOnly", false)
	bd.end()
	cur := &cursor{ns: req.db + ".$cmd.listCollections",
		fixed: [][]byte{bd.finish()}, left: 1}
	return c.firstBatch(req, cur, defaultFirst, true)
}

// groupArg reads {$group: {_id: "$path", name: {$sum: 1}, ...}}.
func groupArg(stage elem, p *plan) error {
	if stage.typ != tDocument {
		return badValue("$group must be a document")
	}
	it := newIter(stage.value)
	var f elem
	for it.next(&f) {
		if string(f.key) == "_id" {
			path, ok := f.str()
			if !ok || len(path) < 2 || path[0] != '$' {
				return badValue("$group: only _id: \"$field\" is served")
			}
			p.groupBy = path[1:]
			continue
		}
		var one elem
		ok := f.typ == tDocument
		if ok {
			one, ok = lookup(f.value, "$sum")
		}
		if n, isInt := one.asInt64(); !ok || !isInt || n != 1 {
			return badValue("$group: only {$sum: 1} accumulators are served")
		}
		p.groupSums = append(p.groupSums, string(f.key))
	}
	if p.groupBy == "" {
		return badValue("$group needs _id")
	}
	return nil
}

// group counts the cursor's documents by the value of the plan's key
// field (null or missing: one group), in the order keys first appear.
// Values are told apart by their bytes: numbers of two types equal in
// value are two groups here, unlike MongoDB.
func (s *store) group(cur *cursor, p *plan) [][]byte {
	type groupCount struct {
		typ   byte
		value []byte
		n     int64
	}
	var groups []*groupCount
	index := map[string]*groupCount{}
	path := strings.Split(p.groupBy, ".")
	pos := cur.pos
	for left := cur.left; left > 0; left-- {
		doc := s.data[cur.ord.off[pos] : cur.ord.off[pos]+int64(cur.ord.size(pos))]
		typ, value := byte(tNull), []byte(nil)
		for i, part := range path {
			e, ok := lookup(doc, part)
			if !ok {
				break
			}
			if i == len(path)-1 {
				typ, value = e.typ, e.value
			} else if e.typ == tDocument {
				doc = e.value
			} else {
				break
			}
		}
		if typ == tUndefined {
			typ, value = tNull, nil
		}
		k := string(append([]byte{typ}, value...))
		g := index[k]
		if g == nil {
			g = &groupCount{typ: typ, value: value}
			index[k] = g
			groups = append(groups, g)
		}
		g.n++
		if cur.desc {
			pos--
		} else {
			pos++
		}
	}
	out := make([][]byte, 0, len(groups))
	for _, g := range groups {
		bd := newBuilder(nil)
		bd.raw(g.typ, "_id", g.value)
		for _, name := range p.groupSums {
			if g.n <= 1<<31-1 {
				bd.int32(name, int32(g.n))
			} else {
				bd.int64(name, g.n)
			}
		}
		out = append(out, bd.finish())
	}
	return out
}

func (c *conn) find(req *request) error {
	p := plan{}
	var batch int64 = defaultFirst
	single := false
	coll := ""
	it := newIter(req.body)
	var e elem
	for it.next(&e) {
		var err error
		switch k := string(e.key); k {
		case "find":
			coll, _ = e.str()
		case "filter":
			if e.typ != tDocument {
				return badValue("filter must be a document")
			}
			p.filter = e.value
		case "sort":
			p.sortKey, p.desc, err = sortArg(e)
		case "projection":
			// ignored: bench documents hold only the fields read
		case "limit":
			p.limit, err = intArg(e, "limit")
			if p.limit < 0 {
				p.limit, single = -p.limit, true
			}
		case "skip":
			p.skip, err = intArg(e, "skip")
			if p.skip < 0 {
				err = badValue("skip must be non-negative")
			}
		case "batchSize":
			batch, err = intArg(e, "batchSize")
			if batch < 0 {
				err = badValue("batchSize must be non-negative")
			}
		case "singleBatch":
			single = e.truthy()
		default:
			if !generic[k] {
				err = badValue("unsupported find option %q", k)
			}
		}
		if err != nil {
			return err
		}
	}
	cur, err := c.open(&p, req.db+"."+coll)
	if err != nil {
		return err
	}
	return c.firstBatch(req, cur, batch, single)
}

// firstBatch answers a find or aggregate, registering the cursor when
// documents remain.
func (c *conn) firstBatch(req *request, cur *cursor, batch int64, single bool) error {
	k := 0 // batchSize 0: an empty first batch, the cursor open
	if batch != 0 {
		k = c.batchLen(cur, batch)
	}
	if cur.left > k && !single {
		c.sv.register(cur)
	}
	_, err := c.sendBatch(req, req.reqID, cur, k, "firstBatch", 0)
	return err
}

// batchLen is how many documents the next batch of cur holds: batch of
// them (0: as many as fit), fewer when the batch would pass maxBatchBytes,
// at least one when any remain and batch allows it.
func (c *conn) batchLen(cur *cursor, batch int64) int {
	k := cur.left
	if batch > 0 && int64(k) > batch {
		k = int(batch)
	}
	if k <= 1 || cur.fixed != nil {
		return k
	}
	o := cur.ord
	bytesOf := func(k int) int64 {
		if cur.desc {
			return o.bytesBetween(cur.pos-k+1, cur.pos+1)
		}
		return o.bytesBetween(cur.pos, cur.pos+k)
	}
	if bytesOf(k) <= maxBatchBytes {
		return k
	}
	lo, hi := 1, k // bytesOf(lo) fits or lo == 1; bytesOf(hi) does not
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if bytesOf(mid) <= maxBatchBytes {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// sendBatch sends the next k documents of cur as a cursor reply, the
// cursor id 0 when none remain after them.
func (c *conn) sendBatch(req *request, responseTo int32, cur *cursor, k int, key string, flags uint32) (int32, error) {
	var size int64
	if cur.fixed != nil {
		for _, d := range cur.fixed[:k] {
			size += int64(len(d))
		}
	} else if cur.desc {
		size = cur.ord.bytesBetween(cur.pos-k+1, cur.pos+1)
	} else {
		size = cur.ord.bytesBetween(cur.pos, cur.pos+k)
	}
	bd := c.begin(req, int(size)+k*10+256+len(cur.ns))
	bd.doc("cursor")
	bd.array(key)
	b := bd.b
	if cur.fixed != nil {
		for i, d := range cur.fixed[:k] {
			b = append(b, tDocument)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, 0)
			b = append(b, d...)
		}
		cur.fixed = cur.fixed[k:]
	} else {
		data, o, pos := cur.st.data, cur.ord, cur.pos
		step := 1
		if cur.desc {
			step = -1
		}
		var key arrayKey
		key.reset()
		for i := 0; i < k; i++ {
			off := o.off[pos]
			b = append(b, key.bytes()...)
			b = append(b, data[off:off+o.pre[pos+1]-o.pre[pos]]...)
			key.next()
			pos += step
		}
		cur.pos = pos
	}
	bd.b = b
	bd.end()
	cur.left -= k
	id := cur.id
	if cur.left == 0 {
		id = 0
	}
	bd.int64("id", id)
	bd.string("ns", cur.ns)
	bd.end()
	bd.double("ok", 1)
	return c.send(req, bd, responseTo, flags)
}

func (c *conn) getMore(req *request) error {
	var id, batch int64
	found := false
	it := newIter(req.body)
	var e elem
	for it.next(&e) {
		var err error
		switch k := string(e.key); k {
		case "getMore":
			if e.typ != tInt64 {
				return &cmdError{14, "TypeMismatch", "getMore needs an int64 cursor id"}
			}
			id, found = le64(e.value), true
		case "collection":
		case "batchSize":
			batch, err = intArg(e, "batchSize")
			if batch < 0 {
				err = badValue("batchSize must be non-negative")
			}
		default:
			if !generic[k] {
				err = badValue("unsupported getMore option %q", k)
			}
		}
		if err != nil {
			return err
		}
	}
	cur := c.sv.take(id)
	if !found || cur == nil {
		return &cmdError{43, "CursorNotFound", fmt.Sprintf("cursor id %d not found", id)}
	}
	exhaust := req.flags&flagExhaustAllowed != 0 && !req.legacy
	responseTo := req.reqID
	for {
		k := c.batchLen(cur, batch)
		flags := uint32(0)
		more := cur.left > k
		if exhaust && more {
			flags = flagMoreToCome
		}
		replyID, err := c.sendBatch(req, responseTo, cur, k, "nextBatch", flags)
		if err != nil {
			return err // the connection is gone, and so is the cursor
		}
		if !more {
			return nil
		}
		if !exhaust {
			c.sv.put(cur)
			return nil
		}
		responseTo = replyID
	}
}

func (c *conn) killCursors(req *request) error {
	var killed, notFound []int64
	if e, ok := lookup(req.body, "cursors"); ok && e.typ == tArray {
		it := newIter(e.value)
		var x elem
		for it.next(&x) {
			if x.typ != tInt64 {
				return &cmdError{14, "TypeMismatch", "cursor ids must be int64"}
			}
			id := le64(x.value)
			if c.sv.take(id) != nil {
				killed = append(killed, id)
			} else {
				notFound = append(notFound, id)
			}
		}
	} else {
		return badValue("killCursors needs an array of cursors")
	}
	bd := c.begin(req, 128+16*(len(killed)+len(notFound)))
	for _, l := range []struct {
		name string
		ids  []int64
	}{{"cursorsKilled", killed}, {"cursorsNotFound", notFound}, {"cursorsAlive", nil}, {"cursorsUnknown", nil}} {
		bd.array(l.name)
		for i, id := range l.ids {
			bd.int64(strconv.Itoa(i), id)
		}
		bd.end()
	}
	bd.double("ok", 1)
	_, err := c.send(req, bd, req.reqID, 0)
	return err
}

func (c *conn) count(req *request) error {
	p := plan{}
	coll := ""
	it := newIter(req.body)
	var e elem
	for it.next(&e) {
		var err error
		switch k := string(e.key); k {
		case "count":
			coll, _ = e.str()
		case "query":
			if e.typ != tDocument {
				return badValue("query must be a document")
			}
			p.filter = e.value
		case "limit":
			p.limit, err = intArg(e, "limit")
			if p.limit < 0 {
				p.limit = -p.limit
			}
		case "skip":
			p.skip, err = intArg(e, "skip")
			if p.skip < 0 {
				err = badValue("skip must be non-negative")
			}
		case "fields":
		default:
			if !generic[k] {
				err = badValue("unsupported count option %q", k)
			}
		}
		if err != nil {
			return err
		}
	}
	cur, err := c.open(&p, req.db+"."+coll)
	if err != nil {
		return err
	}
	bd := c.begin(req, 64)
	if cur.left <= 1<<31-1 {
		bd.int32("n", int32(cur.left))
	} else {
		bd.int64("n", int64(cur.left))
	}
	bd.double("ok", 1)
	_, err = c.send(req, bd, req.reqID, 0)
	return err
}

func (c *conn) aggregate(req *request) error {
	p := plan{}
	var batch int64 = defaultFirst
	coll := ""
	var pipeline []byte
	it := newIter(req.body)
	var e elem
	for it.next(&e) {
		var err error
		switch k := string(e.key); k {
		case "aggregate":
			if coll, _ = e.str(); coll == "" {
				return badValue("aggregate needs a collection name")
			}
		case "pipeline":
			if e.typ != tArray {
				return badValue("pipeline must be an array")
			}
			pipeline = e.value
		case "cursor":
			if e.typ != tDocument {
				return badValue("cursor must be a document")
			}
			if b, ok := lookup(e.value, "batchSize"); ok {
				batch, err = intArg(b, "batchSize")
			}
		default:
			if !generic[k] {
				err = badValue("unsupported aggregate option %q", k)
			}
		}
		if err != nil {
			return err
		}
	}
	if pipeline == nil {
		return badValue("aggregate needs a pipeline")
	}
	var filters [][]byte
	pi := newIter(pipeline)
	var st elem
	for n := 0; pi.next(&st); n++ {
		stage, ok := firstElem(st.value)
		if st.typ != tDocument || !ok {
			return badValue("a pipeline stage must be a document of one field")
		}
		name := string(stage.key)
		if p.count != "" || p.collStats || p.groupBy != "" {
			return badValue("no stage is served after $count, $collStats or $group (%s)", name)
		}
		switch name {
		case "$collStats":
			if n != 0 || stage.typ != tDocument {
				return badValue("$collStats must be the first stage")
			}
			si := newIter(stage.value)
			var f elem
			for si.next(&f) {
				if string(f.key) != "count" {
					return badValue("$collStats: only {count: {}} is served")
				}
			}
			p.collStats = true
		case "$match":
			if stage.typ != tDocument || p.limit > 0 || p.skip > 0 {
				return badValue("$match is served only as a document before $skip and $limit")
			}
			filters = append(filters, stage.value)
		case "$sort":
			if p.limit > 0 || p.skip > 0 {
				return badValue("$sort is served only before $skip and $limit")
			}
			key, desc, err := sortArg(stage)
			if err != nil {
				return err
			}
			if key != "_id" {
				return badValue("unsupported $sort: only {_id: 1} and {_id: -1} are served")
			}
			p.sortKey, p.desc = key, desc
		case "$skip":
			v, err := intArg(stage, "$skip")
			if err != nil || v < 0 || p.limit > 0 {
				return badValue("$skip must be a non-negative number, before $limit")
			}
			p.skip += v
		case "$limit":
			v, err := intArg(stage, "$limit")
			if err != nil || v <= 0 {
				return badValue("$limit must be positive")
			}
			if p.limit == 0 || v < p.limit {
				p.limit = v
			}
		case "$count":
			if p.count, ok = stage.str(); !ok || p.count == "" {
				return badValue("$count needs a field name")
			}
		case "$project":
			// ignored, as find's projection
		case "$group":
			if err := groupArg(stage, &p); err != nil {
				return err
			}
		default:
			return badValue("unsupported pipeline stage %s: replay-server serves $collStats {count: {}}, $match, $sort by _id, $skip, $limit, $count, $group by one field with {$sum: 1}, $project (ignored)", name)
		}
	}
	if pi.err != nil {
		return badValue("corrupt pipeline")
	}
	// several $match stages: their conjunction
	switch len(filters) {
	case 0:
	case 1:
		p.filter = filters[0]
	default:
		bd := newBuilder(nil)
		bd.array("$and")
		for i, f := range filters {
			bd.raw(tDocument, strconv.Itoa(i), f)
		}
		p.filter = bd.finish()
	}
	cur, err := c.open(&p, req.db+"."+coll)
	if err != nil {
		return err
	}
	return c.firstBatch(req, cur, batch, false)
}

// arrayKey is the type byte and key of the next element of a document
// array ("\x03" "0" "\x00", "\x03" "1" "\x00", ...), counted in decimal
// without a conversion per element.
type arrayKey struct {
	buf   [24]byte
	start int // buf[start-1] is the type byte, buf[start:23] the digits
}

func (a *arrayKey) reset() {
	a.buf[21] = tDocument
	a.buf[22] = '0'
	a.buf[23] = 0
	a.start = 22
}

func (a *arrayKey) bytes() []byte { return a.buf[a.start-1:] }

func (a *arrayKey) next() {
	for i := 22; ; i-- {
		if i < a.start {
			a.start = i
			a.buf[i] = '1'
			a.buf[i-1] = tDocument
			return
		}
		if a.buf[i] != '9' {
			a.buf[i]++
			return
		}
		a.buf[i] = '0'
	}
}
