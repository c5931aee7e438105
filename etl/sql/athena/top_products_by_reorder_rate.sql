-- name: top_products_by_reorder_rate
-- description: The 20 products most often bought again (share of their order lines marked
-- reordered), among products with at least 5 units sold so that one-off sales do not dominate.
SELECT
    product_id,
    product_name,
    department,
    units_sold,
    CAST(round(reorder_rate * units_sold) AS BIGINT) AS reordered_units,
    round(reorder_rate, 4) AS reorder_rate
FROM gold.product_performance
WHERE units_sold >= 5
ORDER BY reorder_rate DESC, units_sold DESC, product_id
LIMIT 20
