import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from image_optimizer.contrib.django import presigned_post

from .forms import PhotoForm
from .models import Photo

MAX_UPLOAD_BYTES = 50 * 1024 * 1024


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
    then reports the final name to `direct_upload_done`."""
    body = json.loads(request.body)
    try:
        post = presigned_post(body["filename"], body["content_type"], MAX_UPLOAD_BYTES, upload_to="photos/")
    except ValueError as error:
        return JsonResponse({"error": str(error)}, status=400)
    return JsonResponse({"url": post["url"], "fields": post["fields"], "name": post["name"]})


@require_POST
def direct_upload_done(request: HttpRequest) -> JsonResponse:
    body = json.loads(request.body)
    photo = Photo.objects.create(title=body.get("title", ""), image=body["name"])
    return JsonResponse({"id": photo.pk, "name": photo.image.name})
