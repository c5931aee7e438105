-- name: weekly_cohort_retention
-- description: Customers grouped by the week (Monday start) of their first order; for each
-- cohort and each week since, how many of them ordered and the share of the cohort.
WITH customer_weeks AS (
    SELECT DISTINCT user_id, CAST(date_trunc('week', order_date) AS DATE) AS order_week
    FROM silver.orders
),
cohorts AS (
    SELECT user_id, min(order_week) AS cohort_week
    FROM customer_weeks
    GROUP BY user_id
),
cohort_sizes AS (
    SELECT cohort_week, count(*) AS cohort_size
    FROM cohorts
    GROUP BY cohort_week
),
activity AS (
    SELECT
        c.cohort_week,
        date_diff('week', c.cohort_week, w.order_week) AS weeks_since_first_order,
        count(*) AS active_customers
    FROM cohorts AS c
    JOIN customer_weeks AS w ON w.user_id = c.user_id
    GROUP BY c.cohort_week, date_diff('week', c.cohort_week, w.order_week)
)
SELECT
    a.cohort_week,
    s.cohort_size,
    a.weeks_since_first_order,
    a.active_customers,
    round(CAST(a.active_customers AS DOUBLE) / s.cohort_size, 4) AS retention_rate
FROM activity AS a
JOIN cohort_sizes AS s ON s.cohort_week = a.cohort_week
ORDER BY a.cohort_week, a.weeks_since_first_order
