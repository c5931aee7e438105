-- name: daily_revenue_moving_average
-- description: Orders and revenue per day with the 7-day moving average of revenue (the day and
-- the six before it; days without orders count as zero revenue).
WITH bounds AS (
    SELECT min(order_date) AS first_day, max(order_date) AS last_day
    FROM gold.daily_sales
),
calendar AS (
    SELECT CAST(calendar_day AS DATE) AS order_date
    FROM bounds
    CROSS JOIN UNNEST(sequence(first_day, last_day, INTERVAL '1' DAY)) AS t (calendar_day)
),
daily AS (
    SELECT
        c.order_date,
        coalesce(s.total_orders, 0) AS total_orders,
        coalesce(s.total_revenue, 0) AS total_revenue
    FROM calendar AS c
    LEFT JOIN gold.daily_sales AS s ON s.order_date = c.order_date
)
SELECT
    order_date,
    total_orders,
    total_revenue,
    round(
        avg(total_revenue) OVER (ORDER BY order_date ROWS BETWEEN 6 PRECEDING AND CURRENT ROW), 2
    ) AS revenue_7d_avg,
    count(*) OVER (ORDER BY order_date ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS days_in_average
FROM daily
ORDER BY order_date
