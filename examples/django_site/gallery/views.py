import json

from django.core import signing
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from image_optimizer.contrib.django import presigned_post

from .forms import PhotoForm
from .models import Photo

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
TICKET_SALT = "gallery.direct-upload"


def index(request: HttpRequest) -> HttpResponse:
    """Upload form (through Django) and every photo with its main image and thumbnails."""
    form = PhotoForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        return redirect("index")
    photos = list(Photo.objects.all()[:50])
    return render(
        request,
        "gallery/index.html",
        {"form": form, "photos": photos, "pending": any(not (photo.ready or photo.rejection) for photo in photos)},
    )


@require_POST
def direct_upload(request: HttpRequest) -> JsonResponse:
    """Large photos skip the web server: the browser asks here for a presigned POST, uploads to S3 itself,
    then hands the signed ticket back to `direct_upload_done`."""
    body = json.loads(request.body)
    try:
        post = presigned_post(body["filename"], body["content_type"], MAX_UPLOAD_BYTES, upload_to="photos/")
    except ValueError as error:
        return JsonResponse({"error": str(error)}, status=400)
    ticket = signing.dumps(post["name"], salt=TICKET_SALT)  # the browser cannot name someone else's photo
    return JsonResponse({"url": post["url"], "fields": post["fields"], "ticket": ticket})


@require_POST
def direct_upload_done(request: HttpRequest) -> JsonResponse:
    body = json.loads(request.body)
    try:
        name = signing.loads(body["ticket"], salt=TICKET_SALT, max_age=3600)
    except signing.BadSignature:
        return JsonResponse({"error": "bad or expired ticket"}, status=400)
    storage = Photo._meta.get_field("image").storage
    if not (storage.pending_originals(name) or storage.is_ready(name) or storage.rejection(name)):
        return JsonResponse({"error": "nothing was uploaded for this ticket"}, status=400)
    photo, _ = Photo.objects.get_or_create(image=name, defaults={"title": body.get("title", "")})
    return JsonResponse({"id": photo.pk, "name": photo.image.name})
