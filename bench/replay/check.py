#!/usr/bin/python3
"""bench/replay/check.py FILE PORT: checks with PyMongo that a replay server
on 127.0.0.1:PORT serves exactly the documents of the mongodump file FILE:
find in file order and sorted by _id both ways, batch sizes, limits, _id
ranges ($gte/$gt/$lt/$lte, $and, equality, MinKey), exhaust cursors,
count, $collStats, $match/$count, and refusals with an error.  The _id
values must be of one type (PyMongo sorts them here to know the order).
Run by check.sh."""
import sys, bson, pymongo
from pymongo import CursorType
from bson.raw_bson import RawBSONDocument
path, port = sys.argv[1], int(sys.argv[2])
with open(path,'rb') as f: raw = [bytes(d.raw) for d in bson.decode_file_iter(f, codec_options=bson.CodecOptions(document_class=RawBSONDocument))]
docs = [bson.decode(r) for r in raw]
ids = [d['_id'] for d in docs]
c = pymongo.MongoClient(f'mongodb://127.0.0.1:{port}/', document_class=RawBSONDocument)
coll = c.anydb.anycoll
def rawlist(cur): return [bytes(d.raw) for d in cur]
assert c.admin.command('ping')['ok'] == 1
print('buildInfo', c.admin.command('buildInfo')['version'])
assert rawlist(coll.find()) == raw, 'find all'
assert rawlist(coll.find(batch_size=1000)) == raw
assert rawlist(coll.find(batch_size=7, limit=50)) == raw[:50]
order = sorted(range(len(raw)), key=lambda i: ids[i])
sraw = [raw[i] for i in order]; sids = [ids[i] for i in order]
assert rawlist(coll.find(sort=[('_id',1)], batch_size=333)) == sraw
assert rawlist(coll.find(sort=[('_id',-1)], batch_size=333)) == sraw[::-1]
lo, hi = sids[1234], sids[5678]
assert rawlist(coll.find({'_id': {'$gte': lo, '$lt': hi}})) == sraw[1234:5678]
assert rawlist(coll.find({'_id': {'$gt': lo, '$lte': hi}}, batch_size=100)) == sraw[1235:5679]
assert rawlist(coll.find({'$and': [{'_id': {'$gt': lo}}, {'_id': {'$lte': hi}}]}, sort=[('_id',1)], limit=10)) == sraw[1235:1245]
assert rawlist(coll.find({'_id': lo})) == [sraw[1234]]
assert rawlist(coll.find({'_id': {'$gte': 5}})) == []   # numbers: none, ids are ObjectIds
assert rawlist(coll.find({'_id': {'$gte': bson.min_key.MinKey()}}, projection={'name': 1}, sort=[('_id',1)])) == sraw
assert rawlist(coll.find(cursor_type=CursorType.EXHAUST, batch_size=500)) == raw, 'exhaust'
assert rawlist(coll.find({'_id': {'$gte': lo}}, cursor_type=CursorType.EXHAUST, batch_size=999)) == sraw[1234:], 'exhaust range'
assert c.anydb.command('count', 'x')['n'] == len(raw)
assert c.anydb.command('count', 'x', query={'_id': {'$gte': lo, '$lt': hi}})['n'] == 5678-1234
assert coll.estimated_document_count() == len(raw)
r = list(coll.aggregate([{'$collStats': {'count': {}}}]))
assert r[0]['count'] == len(raw), r
r = list(coll.aggregate([{'$match': {'_id': {'$gte': lo, '$lt': hi}}}, {'$count': 'count'}]))
assert r[0]['count'] == 5678-1234, r
assert list(coll.aggregate([{'$match': {'_id': {'$lt': sids[0]}}}, {'$count': 'count'}])) == []
assert rawlist(coll.aggregate([{'$match': {'_id': {'$gte': lo}}}, {'$sort': {'_id': 1}}, {'$limit': 3000}], batchSize=100)) == sraw[1234:4234]
for bad in [lambda: coll.find({'name': 'x'}).next(), lambda: c.anydb.command('insert', 'x', documents=[{}]),
            lambda: list(coll.aggregate([{'$group': {'_id': 1}}])), lambda: coll.find(sort=[('name', 1)]).next()]:
    try: bad(); raise SystemExit('no error')
    except pymongo.errors.OperationFailure as e: print('refused:', e.code, str(e)[:90])
# cursor killed
cur = coll.find(batch_size=10); next(cur); cur.close()
print('pymongo checks passed on', len(raw), 'documents')
