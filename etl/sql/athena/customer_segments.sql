-- name: customer_segments
-- description: Customers, orders, spend and average order value per customer segment
-- (champion: 3+ orders, loyal: 2, big_spender: 1 order of 400 or more, new: the rest).
SELECT
    segment,
    count(*) AS customers,
    round(CAST(count(*) AS DOUBLE) / sum(count(*)) OVER (), 4) AS share_of_customers,
    sum(total_orders) AS orders,
    sum(total_spend) AS total_spend,
    round(sum(total_spend) / sum(total_orders), 2) AS avg_order_value,
    round(sum(total_spend) / count(*), 2) AS avg_spend_per_customer
FROM gold.customer_insights
GROUP BY segment
ORDER BY total_spend DESC
