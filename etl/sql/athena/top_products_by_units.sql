-- name: top_products_by_units
-- description: The 20 best-selling products by units sold, with department, orders, customers
-- and reorder rate.
SELECT
    product_id,
    product_name,
    department,
    units_sold,
    order_count,
    unique_customers,
    round(reorder_rate, 4) AS reorder_rate
FROM gold.product_performance
WHERE units_sold > 0
ORDER BY units_sold DESC, product_id
LIMIT 20
