// replay-server: serves one collection from a mongodump .bson file held in
// memory over the MongoDB wire protocol, on 127.0.0.1, as fast as the
// socket allows.  A measuring instrument for mongo_etl's benchmarks only:
// see bench/README.md.
//
//	replay-server FILE PORT
//	replay-server -load PORT [-batch N] [-exhaust] [-conns K] [-pid PID]
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: replay-server FILE PORT\n       replay-server -load PORT [-batch N] [-exhaust] [-conns K] [-pid SERVERPID]")
	os.Exit(2)
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-load" {
		os.Exit(loadMain(os.Args[2:]))
	}
	if len(os.Args) != 3 {
		usage()
	}
	path := os.Args[1]
	port, err := strconv.Atoi(os.Args[2])
	if err != nil || port < 0 || port > 65535 {
		usage()
	}
	s, err := loadFile(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "replay-server: %s: %v\n", path, err)
		os.Exit(1)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "replay-server: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("replay-server: serving %d documents (%d bytes) from %s on %s\n",
		s.count(), len(s.data), path, l.Addr())
	if err := newServer(s).serve(l); err != nil {
		fmt.Fprintf(os.Stderr, "replay-server: %v\n", err)
		os.Exit(1)
	}
}
