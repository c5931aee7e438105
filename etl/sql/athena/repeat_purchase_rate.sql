-- name: repeat_purchase_rate
-- description: Share of customers who placed more than one order, and orders per customer.
SELECT
    count(*) AS customers,
    count_if(total_orders >= 2) AS repeat_customers,
    round(CAST(count_if(total_orders >= 2) AS DOUBLE) / count(*), 4) AS repeat_purchase_rate,
    round(CAST(sum(total_orders) AS DOUBLE) / count(*), 4) AS orders_per_customer
FROM gold.customer_insights
