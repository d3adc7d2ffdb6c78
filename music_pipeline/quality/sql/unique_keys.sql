-- Keys that occur more than once in the table (views: checked). $key: the key columns.
SELECT $key, COUNT(*) AS copies
FROM checked
GROUP BY $key
HAVING COUNT(*) > 1
ORDER BY copies DESC, $key
