"""Deliveries keep a status code and a fixed reason, never what the receiver said.

Up to now a delivery stored 1,000 characters of the receiver's answer and the text of the
exception that ended it: redirected to an internal page, that was the page, shown to whoever added
the webhook. The answers go (their column is dropped) and each error text becomes one of the fixed
reasons of WebhookDelivery.Failure.
"""

from django.db import migrations, models

# Old error texts, as requests worded them, and the fixed reason each becomes; anything else is
# "failed".
OLD_ERRORS = (
    ("Timeout", "timeout"),
    ("timed out", "timeout"),
    ("Connection refused", "refused"),
    ("SSLError", "tls"),
    ("Name or service not known", "dns"),
    ("NameResolutionError", "dns"),
    ("nodename nor servname", "dns"),
)


def errors_to_reasons(apps, schema_editor):
    WebhookDelivery = apps.get_model("webhooks", "WebhookDelivery")
    for delivery in WebhookDelivery.objects.exclude(error="").only("pk", "error").iterator():
        reason = next((code for words, code in OLD_ERRORS if words in delivery.error), "failed")
        WebhookDelivery.objects.filter(pk=delivery.pk).update(error=reason)


class Migration(migrations.Migration):

    dependencies = [
        ("webhooks", "0001_webhooks_move_here"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="webhookdelivery",
            name="response_body",
        ),
        # Before the column narrows: PostgreSQL refuses to cut a longer text to fit.
        migrations.RunPython(errors_to_reasons, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="webhookdelivery",
            name="error",
            field=models.CharField(
                blank=True,
                choices=[
                    ("redirect", "redirects are not followed"),
                    ("refused", "connection refused"),
                    ("timeout", "timed out"),
                    ("address", "address not allowed"),
                    ("http", "plain http is not allowed"),
                    ("scheme", "not an http(s) URL"),
                    ("dns", "host name not found"),
                    ("tls", "TLS handshake or certificate failed"),
                    ("failed", "connection failed"),
                ],
                max_length=16,
            ),
        ),
    ]
