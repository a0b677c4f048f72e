// The load client (-load): reads a whole collection from a server with find
// and getMore (or one exhaust getMore stream) on K connections, each reading
// its share of the _id order, discards the documents after counting them,
// and prints documents per second and the CPU time spent on both sides.

package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type client struct {
	nc    net.Conn
	r     *bufio.Reader
	reqID int32
	buf   []byte
	in    []byte
}

func dial(port string) (*client, error) {
	nc, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return nil, err
	}
	return &client{nc: nc, r: bufio.NewReaderSize(nc, 1<<20)}, nil
}

// send writes an OP_MSG whose body is doc.
func (cl *client) send(doc []byte, flags uint32) error {
	cl.reqID++
	b := cl.buf[:0]
	b = binary.LittleEndian.AppendUint32(b, uint32(msgPrefixLen+len(doc)))
	b = binary.LittleEndian.AppendUint32(b, uint32(cl.reqID))
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, opMsg)
	b = binary.LittleEndian.AppendUint32(b, flags)
	b = append(b, 0)
	b = append(b, doc...)
	cl.buf = b
	_, err := cl.nc.Write(b)
	return err
}

// recv reads one OP_MSG reply: its flags and body.
func (cl *client) recv() (uint32, []byte, error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(cl.r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int(le32(hdr[:])) - headerLen
	if n < 5 || le32(hdr[12:]) != opMsg {
		return 0, nil, fmt.Errorf("unexpected reply (opcode %d)", le32(hdr[12:]))
	}
	if cap(cl.in) < n {
		cl.in = make([]byte, n)
	}
	m := cl.in[:n]
	if _, err := io.ReadFull(cl.r, m); err != nil {
		return 0, nil, err
	}
	return binary.LittleEndian.Uint32(m), m[5:], nil
}

func (cl *client) command(doc []byte, flags uint32) ([]byte, error) {
	if err := cl.send(doc, flags); err != nil {
		return nil, err
	}
	_, body, err := cl.recv()
	if err != nil {
		return nil, err
	}
	if e, ok := lookup(body, "ok"); !ok || !e.truthy() {
		m, _ := lookup(body, "errmsg")
		s, _ := m.str()
		return nil, fmt.Errorf("command failed: %s", s)
	}
	return body, nil
}

// cursorReply counts the documents of a cursor reply's batch and returns
// the cursor id.
func cursorReply(body []byte) (int64, int, int, error) {
	cur, ok := lookup(body, "cursor")
	if !ok || cur.typ != tDocument {
		return 0, 0, 0, fmt.Errorf("no cursor in reply")
	}
	var id int64
	docs, size := 0, 0
	it := newIter(cur.value)
	var e elem
	for it.next(&e) {
		switch string(e.key) {
		case "id":
			id = le64(e.value)
		case "firstBatch", "nextBatch":
			ai := newIter(e.value)
			var d elem
			for ai.next(&d) {
				docs++
				size += len(d.value)
			}
			if ai.err != nil {
				return 0, 0, 0, ai.err
			}
		}
	}
	return id, docs, size, it.err
}

// scan reads the documents whose _id is in [lo, hi) (both optional,
// given as raw _id elements), returning how many and their bytes.
func scan(port string, loID, hiID *elem, batch int, exhaust bool) (int, int, error) {
	cl, err := dial(port)
	if err != nil {
		return 0, 0, err
	}
	defer cl.nc.Close()
	bd := newBuilder(nil)
	bd.int32("hello", 1)
	bd.string("$db", "admin")
	if _, err := cl.command(bd.finish(), 0); err != nil {
		return 0, 0, err
	}
	bd = newBuilder(nil)
	bd.string("find", "bench")
	bd.doc("filter")
	if loID != nil || hiID != nil {
		bd.doc("_id")
		if loID != nil {
			bd.raw(loID.typ, "$gte", loID.value)
		}
		if hiID != nil {
			bd.raw(hiID.typ, "$lt", hiID.value)
		}
		bd.end()
	}
	bd.end()
	bd.doc("sort")
	bd.int32("_id", 1)
	bd.end()
	bd.int32("batchSize", int32(batch))
	bd.string("$db", "bench")
	body, err := cl.command(bd.finish(), 0)
	if err != nil {
		return 0, 0, err
	}
	id, docs, size, err := cursorReply(body)
	if err != nil {
		return 0, 0, err
	}
	for id != 0 {
		bd = newBuilder(nil)
		bd.int64("getMore", id)
		bd.string("collection", "bench")
		bd.int32("batchSize", int32(batch))
		bd.string("$db", "bench")
		flags := uint32(0)
		if exhaust {
			flags = flagExhaustAllowed
		}
		if err := cl.send(bd.finish(), flags); err != nil {
			return 0, 0, err
		}
		for {
			rflags, body, err := cl.recv()
			if err != nil {
				return 0, 0, err
			}
			var n, sz int
			id, n, sz, err = cursorReply(body)
			if err != nil {
				return 0, 0, err
			}
			docs += n
			size += sz
			if rflags&flagMoreToCome == 0 {
				break
			}
		}
	}
	return docs, size, nil
}

// serverCPU is the CPU time of process pid, all threads, in seconds.
func serverCPU(pid int) float64 {
	if pid == 0 {
		return 0
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var ns int64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			v, _ := strconv.ParseInt(f[0], 10, 64)
			ns += v
		}
	}
	return float64(ns) / 1e9
}

func selfCPU() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func loadMain(args []string) int {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	batch := fs.Int("batch", 10000, "batchSize of find and getMore")
	exhaust := fs.Bool("exhaust", false, "one exhaust getMore after the first batch")
	conns := fs.Int("conns", 1, "connections, each reading an _id range")
	pid := fs.Int("pid", 0, "the server's process id, for its CPU time")
	if len(args) < 1 {
		usage()
	}
	port := args[0]
	fs.Parse(args[1:])

	// split points: the _id of every (count/conns)-th document, in order
	var bounds []*elem
	if *conns > 1 {
		cl, err := dial(port)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		bd := newBuilder(nil)
		bd.string("count", "bench")
		bd.string("$db", "bench")
		body, err := cl.command(bd.finish(), 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		ne, _ := lookup(body, "n")
		total, _ := ne.asInt64()
		for i := 1; i < *conns; i++ {
			bd = newBuilder(nil)
			bd.string("find", "bench")
			bd.doc("filter")
			bd.end()
			bd.doc("sort")
			bd.int32("_id", 1)
			bd.end()
			bd.int64("skip", total*int64(i)/int64(*conns))
			bd.int64("limit", -1)
			bd.string("$db", "bench")
			body, err := cl.command(bd.finish(), 0)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			cur, _ := lookup(body, "cursor")
			fb, _ := lookup(cur.value, "firstBatch")
			d, _ := firstElem(fb.value)
			idv, _ := lookup(d.value, "_id")
			v := elem{typ: idv.typ, value: append([]byte(nil), idv.value...)}
			bounds = append(bounds, &v)
		}
		cl.nc.Close()
	}
	cpu0, srv0 := selfCPU(), serverCPU(*pid)
	t0 := time.Now()
	type result struct {
		docs, size int
		err        error
	}
	results := make(chan result, *conns)
	for i := 0; i < *conns; i++ {
		var lo, hi *elem
		if i > 0 {
			lo = bounds[i-1]
		}
		if i < *conns-1 {
			hi = bounds[i]
		}
		go func() {
			d, s, err := scan(port, lo, hi, *batch, *exhaust)
			results <- result{d, s, err}
		}()
	}
	docs, size := 0, 0
	for i := 0; i < *conns; i++ {
		r := <-results
		if r.err != nil {
			fmt.Fprintln(os.Stderr, "replay-server -load:", r.err)
			return 1
		}
		docs += r.docs
		size += r.size
	}
	wall := time.Since(t0).Seconds()
	cpu, srv := selfCPU()-cpu0, serverCPU(*pid)-srv0
	fmt.Printf("documents=%d bytes=%d seconds=%.3f docs_per_s=%.0f MB_per_s=%.1f client_cpu_s=%.3f",
		docs, size, wall, float64(docs)/wall, float64(size)/wall/1e6, cpu)
	if *pid != 0 {
		fmt.Printf(" server_cpu_s=%.3f server_docs_per_cpu_s=%.0f", srv, float64(docs)/srv)
	}
	fmt.Println()
	return 0
}
