module mongo_etl/bench/replay

go 1.21
