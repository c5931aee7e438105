-- name: basket_size_distribution
-- description: How many orders have each number of lines (basket size), with the share and the
-- cumulative share of orders. Orders without lines count as size 0.
WITH baskets AS (
    SELECT o.order_id, count(i.id) AS basket_size
    FROM silver.orders AS o
    LEFT JOIN silver.order_items AS i ON i.order_id = o.order_id
    GROUP BY o.order_id
)
SELECT
    basket_size,
    count(*) AS orders,
    round(CAST(count(*) AS DOUBLE) / sum(count(*)) OVER (), 4) AS share_of_orders,
    round(
        CAST(sum(count(*)) OVER (ORDER BY basket_size) AS DOUBLE) / sum(count(*)) OVER (), 4
    ) AS cumulative_share
FROM baskets
GROUP BY basket_size
ORDER BY basket_size
