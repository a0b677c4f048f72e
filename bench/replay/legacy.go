// The legacy cursor messages: OP_QUERY find, OP_GET_MORE, OP_KILL_CURSORS,
// answered with OP_REPLY.  PyMongo 3 uses them for exhaust cursors (flag
// 1<<6 of OP_QUERY), whatever the server's wire version: the server then
// streams every following batch as an OP_REPLY, each answering the one
// before it.  (libmongoc 1.23 has no exhaust with a server that speaks
// OP_MSG: it reads such a cursor as a normal one.)

package main

import "encoding/binary"

const (
	queryExhaust        = 1 << 6
	replyCursorNotFound = 1 << 0
	replyQueryFailure   = 1 << 1
)

func parseGetMore(msg []byte, req *request) error {
	if len(msg) < 4 {
		return errCorrupt
	}
	msg = msg[4:]
	i := cstrlen(msg)
	if i < 0 || len(msg) < i+1+12 {
		return errCorrupt
	}
	req.legacy = true
	req.ns = string(msg[:i])
	req.toReturn = le32(msg[i+1:])
	req.cursorID = le64(msg[i+5:])
	return nil
}

func (c *conn) legacyKillCursors(msg []byte) {
	if len(msg) < 8 {
		return
	}
	n := int(le32(msg[4:]))
	msg = msg[8:]
	for i := 0; i < n && len(msg) >= 8*(i+1); i++ {
		c.sv.take(le64(msg[8*i:]))
	}
}

// sendReply sends an OP_REPLY of the next k documents of cur (or of the
// one document failure, with the flags told).
func (c *conn) sendReply(responseTo int32, cur *cursor, k int, flags uint32, failure []byte) (int32, error) {
	var size int64
	switch {
	case failure != nil:
		size = int64(len(failure))
	case k == 0:
	case cur.desc:
		size = cur.ord.bytesBetween(cur.pos-k+1, cur.pos+1)
	default:
		size = cur.ord.bytesBetween(cur.pos, cur.pos+k)
	}
	need := replyPrefixLen + int(size)
	if cap(c.out) < need {
		c.out = make([]byte, 0, need+need/8)
	}
	b := c.out[:replyPrefixLen]
	id := c.sv.nextReq.Add(1)
	var curID int64
	n := k
	if failure != nil {
		b = append(b, failure...)
		n = 1
	} else if k > 0 {
		data, o, pos := cur.st.data, cur.ord, cur.pos
		step := 1
		if cur.desc {
			step = -1
		}
		for i := 0; i < k; i++ {
			off := o.off[pos]
			b = append(b, data[off:off+o.pre[pos+1]-o.pre[pos]]...)
			pos += step
		}
		cur.pos = pos
		cur.left -= k
	}
	if failure == nil && cur.left > 0 {
		curID = cur.id
	}
	binary.LittleEndian.PutUint32(b[0:], uint32(len(b)))
	binary.LittleEndian.PutUint32(b[4:], uint32(id))
	binary.LittleEndian.PutUint32(b[8:], uint32(responseTo))
	binary.LittleEndian.PutUint32(b[12:], opReply)
	binary.LittleEndian.PutUint32(b[16:], flags)
	binary.LittleEndian.PutUint64(b[20:], uint64(curID))
	binary.LittleEndian.PutUint32(b[28:], 0)
	binary.LittleEndian.PutUint32(b[32:], uint32(n))
	c.out = b[:0]
	_, err := c.nc.Write(b)
	return id, err
}

func (c *conn) legacyFailure(req *request, flags uint32, code int32, msg string) error {
	bd := newBuilder(nil)
	bd.string("$err", msg)
	bd.int32("code", code)
	_, err := c.sendReply(req.reqID, nil, 0, flags, bd.finish())
	return err
}

// legacyFind answers an OP_QUERY on a collection: {$query: filter,
// $orderby: sort, ...} or a bare filter.
func (c *conn) legacyFind(req *request) error {
	p := plan{filter: req.body}
	if e, ok := lookup(req.body, "$query"); ok {
		if e.typ != tDocument {
			return c.legacyFailure(req, replyQueryFailure, 2, "$query must be a document")
		}
		p.filter = e.value
		it := newIter(req.body)
		var f elem
		for it.next(&f) {
			var err error
			switch k := string(f.key); k {
			case "$query", "$readPreference", "$comment", "$maxTimeMS", "$hint", "$snapshot":
			case "$orderby":
				p.sortKey, p.desc, err = sortArg(f)
			default:
				err = badValue("unsupported query modifier %q", k)
			}
			if err != nil {
				return c.legacyFailure(req, replyQueryFailure, 2, err.Error())
			}
		}
	}
	if req.skip > 0 {
		p.skip = int64(req.skip)
	}
	batch := int64(req.toReturn)
	single := batch < 0 || batch == 1
	if batch < 0 {
		batch = -batch
		p.limit = batch
	}
	if batch == 0 {
		batch = defaultFirst
	}
	cur, err := c.open(&p, req.ns)
	if err != nil {
		return c.legacyFailure(req, replyQueryFailure, 2, err.Error())
	}
	k := c.batchLen(cur, batch)
	if single {
		cur.left = k
	}
	exhaust := req.qflags&queryExhaust != 0
	if cur.left > k && !exhaust {
		c.sv.register(cur)
	} else if cur.left > k {
		c.sv.mu.Lock()
		c.sv.nextCurID++
		cur.id = c.sv.nextCurID
		c.sv.mu.Unlock()
	}
	responseTo := req.reqID
	for {
		replyID, err := c.sendReply(responseTo, cur, k, 0, nil)
		if err != nil || cur.left == 0 || !exhaust {
			return err
		}
		responseTo = replyID
		k = c.batchLen(cur, batch)
	}
}

func (c *conn) legacyGetMore(req *request) error {
	cur := c.sv.take(req.cursorID)
	if cur == nil {
		_, err := c.sendReply(req.reqID, &cursor{}, 0, replyCursorNotFound, nil)
		return err
	}
	k := c.batchLen(cur, int64(max(req.toReturn, 0)))
	_, err := c.sendReply(req.reqID, cur, k, 0, nil)
	if cur.left > 0 {
		c.sv.put(cur)
	}
	return err
}
