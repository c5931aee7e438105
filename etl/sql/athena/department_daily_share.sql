-- name: department_daily_share
-- description: Units sold per department and day, and each department's share of the day's
-- units. Lines are dated by their order, as in gold.
WITH units AS (
    SELECT
        o.order_date,
        p.department,
        count(*) AS units_sold
    FROM silver.order_items AS i
    JOIN silver.orders AS o ON o.order_id = i.order_id
    JOIN silver.products AS p ON p.product_id = i.product_id
    GROUP BY o.order_date, p.department
)
SELECT
    order_date,
    department,
    units_sold,
    round(CAST(units_sold AS DOUBLE) / sum(units_sold) OVER (PARTITION BY order_date), 4)
        AS share_of_units
FROM units
ORDER BY order_date, department
