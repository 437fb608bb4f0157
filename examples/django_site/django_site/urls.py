from django.urls import path
from gallery import views

urlpatterns = [
    path("", views.index, name="index"),
    path("direct-upload/", views.direct_upload, name="direct-upload"),
    path("direct-upload/done/", views.direct_upload_done, name="direct-upload-done"),
]
