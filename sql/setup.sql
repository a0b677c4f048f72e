--
-- Helpers the later tests share (in schema public, which every test sees).
--

-- EXPLAIN (ANALYZE) of a statement without costs, timings or buffers, its
-- row counts printed as PostgreSQL 15 to 17 print them: 18 prints them
-- with two decimals (rows=5.00), and this keeps one expected output for
-- every supported version (its arguments are named $1 and $2 in the
-- body: VERBOSE is a keyword)
CREATE FUNCTION public.explain_analyze(statement text, verbose bool DEFAULT false)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  line text;
  fraction text;
BEGIN
  FOR line IN EXECUTE format(
      'EXPLAIN (ANALYZE, VERBOSE %s, COSTS OFF, TIMING OFF, SUMMARY OFF, ' ||
      'BUFFERS OFF) %s', $2::text, $1) LOOP
    LOOP
      fraction := substring(line FROM 'rows=(\d+\.\d+)');
      EXIT WHEN fraction IS NULL;
      line := regexp_replace(line, 'rows=\d+\.\d+',
                             'rows=' || round(fraction::numeric));
    END LOOP;
    RETURN NEXT line;
  END LOOP;
END $$;

-- a query's result with pushdown and without (sql/group.sql and
-- sql/lookup.sql compare them)
CREATE FUNCTION public.both_ways(query text) RETURNS TABLE (pushed text, local text)
LANGUAGE plpgsql AS $$
BEGIN
  SET LOCAL mongo_etl.pushdown = on;
  EXECUTE 'SELECT string_agg(r::text, '' '' ORDER BY r::text) FROM (' || query || ') r'
    INTO pushed;
  SET LOCAL mongo_etl.pushdown = off;
  EXECUTE 'SELECT string_agg(r::text, '' '' ORDER BY r::text) FROM (' || query || ') r'
    INTO local;
  RETURN NEXT;
END $$;
